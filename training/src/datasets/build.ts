/** Builds a labelled data set, deterministic from a seed, from one or a mixture of sources. */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { INPUT_SIZE, type Framing } from '@blankspot/core';
import { Rng } from '../rng.js';
import { applyProtocol, type Protocol } from './protocols.js';
import {
  binarySource,
  photoSource,
  productSceneSource,
  productSource,
  uploadPhotoSource,
  solidSource,
  listImages,
  splitFiles,
  type DatasetName,
  type SourceSampler,
  type Split,
} from './sources.js';

/** The repo's own data (photos and cut-outs copied from Debian packages, with their attribution). */
export const REPO_DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../data');

export interface DataOptions {
  /** One set, or several mixed in equal shares. */
  sets: DatasetName[];
  protocol: Protocol;
  /** Which part of each photo the inputs show (core's framing; the paper protocol always takes the whole photo). */
  framing?: Framing;
  /** Side of the square model input (default the contract's 64; the paper protocol is 64 only). */
  inputSize?: number;
  seed: string | number;
  counts: Record<Split, number>;
  /** Folder of natural photos for `photos` (default: the repo's data/photos/natural). */
  photosDir?: string;
  /** Folder of RGBA cut-outs for `products` (default: data/cutouts). */
  cutoutsDir?: string;
  /** A second folder of RGBA objects for upload-protocol `products` (default: data/objects; with cutoutsDir set, none). */
  objectsDir?: string;
  /** A user's own catalogue images: used as `products` instead of composed cut-outs. */
  catalogueDir?: string;
  /** Called after each example, for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

/** Examples of one split, packed for training: images [count*side*side] in [0,1], labels, boxes, source set. */
export interface Examples {
  count: number;
  /** Side of each square image (the model input's). */
  side: number;
  images: Float32Array;
  labels: Uint8Array;
  /** x, y, w, h per example in input pixels; -1s when there is no rectangle. */
  boxes: Float32Array;
  /** Index into `sets` of the set each example came from. */
  setIndex: Uint8Array;
  /** 1 where the rectangle landed on already pure white (invisible to anyone). */
  hidden: Uint8Array;
  sets: DatasetName[];
}

export type Splits = Record<Split, Examples>;

/** `count` examples of `side` x `side`, all black and without a rectangle, to be filled in. */
export function emptyExamples(count: number, side: number, sets: DatasetName[]): Examples {
  return {
    count,
    side,
    // Shared memory: gradient worker threads read the same examples without a copy.
    images: new Float32Array(new SharedArrayBuffer(count * side * side * 4)),
    labels: new Uint8Array(new SharedArrayBuffer(count)),
    boxes: new Float32Array(count * 4).fill(-1),
    setIndex: new Uint8Array(count),
    hidden: new Uint8Array(count),
    sets,
  };
}

export async function makeSource(name: DatasetName, options: DataOptions): Promise<SourceSampler> {
  switch (name) {
    // Under the paper protocol the square is pasted after preprocessing, so 64x64 sources suffice.
    case 'binary':
      return binarySource(options.protocol === 'paper' ? INPUT_SIZE : undefined);
    case 'solid':
      return solidSource(options.protocol === 'paper' ? INPUT_SIZE : undefined);
    case 'photos': {
      const dir = options.photosDir ?? join(REPO_DATA_DIR, 'photos/natural');
      // The same seed key under every protocol: the same photos are held out for testing.
      return options.protocol === 'upload'
        ? uploadPhotoSource(dir, `${options.seed}:photos`)
        : photoSource(dir, `${options.seed}:photos`);
    }
    case 'products': {
      if (options.catalogueDir != null) return photoSource(options.catalogueDir, `${options.seed}:catalogue`, 0.8);
      const dir = options.cutoutsDir ?? join(REPO_DATA_DIR, 'cutouts');
      const photos = { dir: options.photosDir ?? join(REPO_DATA_DIR, 'photos/natural'), seed: `${options.seed}:photos` };
      const objectsDir = options.objectsDir ?? (options.cutoutsDir == null ? join(REPO_DATA_DIR, 'objects') : undefined);
      const objects = objectsDir != null ? { dir: objectsDir, seed: `${options.seed}:objects` } : undefined;
      return options.protocol === 'upload'
        ? productSceneSource(dir, `${options.seed}:products`, photos, objects)
        : productSource(dir, `${options.seed}:products`);
    }
  }
}

/** Parallel enough to keep sharp's thread pool (both cores) busy while JS preprocesses. */
const CONCURRENCY = 16;

export async function buildSplits(options: DataOptions): Promise<Splits> {
  const side = options.inputSize ?? INPUT_SIZE;
  if (options.protocol === 'paper' && side !== INPUT_SIZE)
    throw new RangeError(`the paper protocol is ${INPUT_SIZE}x${INPUT_SIZE} only`);
  const pixels = side * side;
  const sources = await Promise.all(options.sets.map((s) => makeSource(s, options)));
  const total = options.counts.train + options.counts.val + options.counts.test;
  let done = 0;
  const out = {} as Splits;
  for (const split of ['train', 'val', 'test'] as const) {
    const count = options.counts[split];
    const ex = emptyExamples(count, side, options.sets);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        // Sets interleave so any prefix of a mixture is balanced; each example has its own seed.
        const s = i % sources.length;
        const rng = Rng.for(options.seed, options.protocol, options.sets[s], split, i);
        const image = await sources[s].sample(split, rng);
        const example = await applyProtocol(options.protocol, image, rng, options.framing, side);
        ex.images.set(example.input, i * pixels);
        ex.labels[i] = example.label;
        ex.setIndex[i] = s;
        ex.hidden[i] = example.hidden ? 1 : 0;
        if (example.box) ex.boxes.set([example.box.x, example.box.y, example.box.width, example.box.height], i * 4);
        options.onProgress?.(++done, total);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, Math.max(1, count)) }, worker));
    out[split] = ex;
  }
  return out;
}

/** The image of example i, as a view (no copy). */
export function exampleImage(ex: Examples, i: number): Float32Array {
  const pixels = ex.side * ex.side;
  return ex.images.subarray(i * pixels, (i + 1) * pixels);
}

/** Bumped whenever a generator changes what a seed produces, so old cached sets are not reused. */
const GENERATOR_VERSION = 7; // 7: upload products in layouts (padded onto white, collages) and data/objects

/**
 * buildSplits, cached in `cacheDir`: sets are deterministic from their options, and building a
 * large upload-protocol set takes minutes of sharp time that a second run (or a fine-tune) need not repeat.
 */
export async function buildSplitsCached(options: DataOptions, cacheDir: string | undefined): Promise<Splits> {
  if (cacheDir == null) return buildSplits(options);
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        GENERATOR_VERSION,
        options.sets,
        options.protocol,
        String(options.seed),
        options.counts,
        options.photosDir ?? null,
        options.cutoutsDir ?? null,
        options.catalogueDir ?? null,
        options.objectsDir ?? null,
        // Appended only when set, so the keys of sets cached before framing existed do not change.
        ...(options.framing && options.framing !== 'full' ? [options.framing] : []),
        ...(options.inputSize != null && options.inputSize !== INPUT_SIZE ? [`side ${options.inputSize}`] : []),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const file = join(cacheDir, `${options.sets.join('+')}-${options.protocol}-${key}.bin`);
  try {
    return await readSplits(file, options.sets, options.inputSize ?? INPUT_SIZE);
  } catch {
    const splits = await buildSplits(options);
    // A cache that cannot be written (disk full, a read-only folder) costs the next run time, not this
    // run its data: minutes to hours of generation would otherwise be lost.
    try {
      await mkdir(cacheDir, { recursive: true });
      await writeSplits(`${file}.tmp`, splits);
      await rename(`${file}.tmp`, file);
    } catch (e) {
      await rm(`${file}.tmp`, { force: true }).catch(() => {});
      console.error(`could not cache the data set in ${file}: ${(e as Error).message}`);
    }
    return splits;
  }
}

/** Chunks of at most 1 GiB. */
const IO_CHUNK = 1 << 30;

/**
 * The bytes of a split, in file order, as views of at most IO_CHUNK bytes: one read or write call takes
 * at most 2 GiB, and one view at most 4 GiB (a 96,000-image 128x128 set's images are 6.3 GB).
 */
function splitParts(ex: Examples): Uint8Array[] {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, ex.count, true);
  const parts: Uint8Array[] = [header];
  for (const a of [ex.images, ex.labels, ex.boxes, ex.setIndex, ex.hidden] as ArrayBufferView[])
    for (let at = 0; at < a.byteLength; at += IO_CHUNK)
      parts.push(new Uint8Array(a.buffer, a.byteOffset + at, Math.min(IO_CHUNK, a.byteLength - at)));
  return parts;
}

/** Written part by part: a 128x128 set passes 4 GB, more than one Buffer holds. */
async function writeSplits(file: string, splits: Splits): Promise<void> {
  const fh = await open(file, 'w');
  try {
    for (const split of ['train', 'val', 'test'] as const) for (const part of splitParts(splits[split])) await writeAll(fh, part);
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; at += IO_CHUNK) await fh.write(bytes, at, Math.min(IO_CHUNK, bytes.length - at));
}

async function readSplits(file: string, sets: DatasetName[], side: number): Promise<Splits> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let position = 0;
    const fill = async (into: Uint8Array) => {
      if (position + into.length > size) throw new RangeError('cached data set is truncated');
      for (let at = 0; at < into.length;) {
        const { bytesRead } = await fh.read(into, at, Math.min(IO_CHUNK, into.length - at), position);
        if (bytesRead === 0) throw new RangeError('cached data set is truncated');
        at += bytesRead;
        position += bytesRead;
      }
    };
    const out = {} as Splits;
    for (const split of ['train', 'val', 'test'] as const) {
      const header = new Uint8Array(4);
      await fill(header);
      const count = new DataView(header.buffer).getUint32(0, true);
      const ex = emptyExamples(count, side, sets);
      // The parts after the header, in the order splitParts gives them.
      for (const part of splitParts(ex).slice(1)) await fill(part);
      out[split] = ex;
    }
    if (position !== size) throw new RangeError('cached data set has trailing bytes');
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * The source files a seed holds out (natural photos and cut-outs): the test split, what an independent
 * evaluation may compose from, knowing the trainer never saw them; or the validation split, what
 * operating points may be chosen on without touching the test split.
 */
export async function heldOutSources(
  seed: string | number,
  dirs: { photosDir?: string; cutoutsDir?: string; objectsDir?: string } = {},
  split: 'test' | 'val' = 'test',
): Promise<{ photos: string[]; cutouts: string[]; objects: string[] }> {
  const photos = splitFiles(await listImages(dirs.photosDir ?? join(REPO_DATA_DIR, 'photos/natural')), `${seed}:photos`);
  const cutouts = splitFiles(await listImages(dirs.cutoutsDir ?? join(REPO_DATA_DIR, 'cutouts')), `${seed}:products`);
  const objects = splitFiles(await listImages(dirs.objectsDir ?? join(REPO_DATA_DIR, 'objects')), `${seed}:objects`);
  return { photos: photos[split], cutouts: cutouts[split], objects: objects[split] };
}
