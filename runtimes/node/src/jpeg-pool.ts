/**
 * The core's JPEG block-mean reader (`jpegToInput`) on worker threads: it is plain JavaScript, and on
 * the request's thread it would hold every other request up while it reads a large photo. One pool per
 * process, of one thread per core, as sharp uses for the photos it decodes. A caller that is itself a
 * worker thread (`blankspot check` runs one per core) reads on its own thread: a pool in each would put
 * cores x cores reader threads on the machine.
 */
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { jpegToInput, type BlockRead, type FramedInput, type Framing } from '@blankspot/core';

let pool: Piscina | undefined;

/** What a thread is sent: `jpegToInput`'s arguments, by name. */
export interface JpegReadArgs {
  bytes: Uint8Array;
  orientation: number;
  framing: Framing;
  size: number;
  earlier?: BlockRead;
}

export function jpegToInputOnThreads(
  bytes: Uint8Array,
  orientation: number,
  framing: Framing,
  size: number,
  earlier?: BlockRead,
): Promise<(FramedInput & { blockRead?: BlockRead }) | null> {
  if (!isMainThread) return Promise.resolve(jpegToInput(bytes, orientation, framing, size, earlier));
  pool ??= new Piscina({
    // The built thread module, from dist (the server) and from src (tests) alike: threads load plain
    // JavaScript, and both folders sit one level under the package.
    filename: new URL('../dist/jpeg-thread.js', import.meta.url).href,
    minThreads: availableParallelism(),
    maxThreads: availableParallelism(),
    recordTiming: false,
    // Message passing, not threads spinning on Atomics.wait: less CPU per photo on a busy machine.
    atomics: 'disabled',
  });
  return pool.run({ bytes, orientation, framing, size, earlier } satisfies JpegReadArgs);
}

export async function closeJpegThreads(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
