/**
 * `blankspot check`: a whole catalogue, locally (the same pipeline as the API's Node adapter, one
 * worker thread per core) or against a deployed API (bounded concurrency, retries with backoff).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { BlankspotError, type Sensitivity } from '@blankspot/core';

export interface CheckedFile {
  path: string;
  flagged?: boolean;
  score?: number;
  threshold?: number;
  model?: { name: string; version: string };
  box?: { x: number; y: number; width: number; height: number } | null;
  image?: { type: string; width: number; height: number };
  error?: { code: string; message: string };
}

const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.jfif']);

/** The line of a file that holds nothing: said as what it is, not in the API's words for an empty request. */
export const EMPTY_FILE = (path: string): CheckedFile => ({
  path,
  error: { code: 'EMPTY_FILE', message: 'the file is empty (0 bytes)' },
});

/**
 * Files from paths: files as given, folders recursively, plus paths listed in list files, each file once.
 * Everything handed over gets a line: a folder that cannot be read (permissions, a disk error) and a file in
 * a folder whose name is not a photo's (.gif, .txt...) are returned in `unreadable`, with their reason, to be
 * reported with the results; the run goes on.
 */
export async function collectFiles(
  paths: string[],
  listFiles: string[] = [],
): Promise<{ files: string[]; unreadable: CheckedFile[] }> {
  const files: string[] = [];
  const unreadable: CheckedFile[] = [];
  const all = [...paths];
  for (const list of listFiles) {
    const text = await readFile(list, 'utf8').catch(() => {
      throw new BlankspotError('BAD_REQUEST', `cannot read the list file ${list}`);
    });
    all.push(
      ...text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
  }
  for (const p of all) {
    const s = await stat(p).catch(() => null);
    if (s?.isDirectory()) {
      const found: string[] = [];
      await walkFolder(p, found, unreadable);
      files.push(...found.sort());
    } else {
      // Missing or unreadable files are kept: they are reported with their reason, not dropped.
      files.push(p);
    }
  }
  // A photo named twice (in a folder given and in a list) is checked and reported once.
  return { files: [...new Set(files.map((f) => resolve(f)))], unreadable };
}

/** Image files under `dir`, each folder read on its own so one that fails is reported and the rest still read. */
async function walkFolder(dir: string, files: string[], unreadable: CheckedFile[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    unreadable.push({ path: resolve(dir), error: { code: 'UNREADABLE_FOLDER', message: (e as Error).message } });
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) await walkFolder(path, files, unreadable);
    else if (e.isFile() && EXTENSIONS.has(extname(e.name).toLowerCase())) files.push(path);
    else if (e.isFile())
      unreadable.push({
        path: resolve(path),
        error: {
          code: 'NOT_A_PHOTO',
          message: `not checked: its name is not a JPEG, PNG or WebP photo's (${[...EXTENSIONS].join(' ')})`,
        },
      });
  }
}

export interface LocalOptions {
  modelsDir?: string;
  model?: string;
  sensitivity?: Sensitivity;
  threads?: number;
  onResult: (r: CheckedFile) => void;
}

const WORKER_URL = import.meta.url.endsWith('.ts')
  ? new URL('../dist/check-worker.js', import.meta.url)
  : new URL('./check-worker.js', import.meta.url);

/**
 * One check worker thread. `ask` rejects when the thread stops before answering (a crash in native
 * code, or its event loop running dry): a pending answer would otherwise keep no handle open, and the
 * process would exit with the rest of the catalogue silently unchecked.
 */
export function checkWorker(options: Omit<LocalOptions, 'onResult' | 'threads'>) {
  const worker = new Worker(WORKER_URL, {
    workerData: { modelsDir: options.modelsDir, model: options.model, sensitivity: options.sensitivity },
  });
  let exited: number | null = null;
  let failure = '';
  let pending: ((e: Error) => void) | null = null;
  // An uncaught error in the thread ends it; its exit below answers whoever waits.
  worker.on('error', (e) => (failure = `: ${e.message}`));
  worker.on('exit', (code) => {
    exited = code;
    pending?.(new Error(`the check worker thread stopped (exit code ${code}${failure}) before answering`));
  });
  const ask = (path: string) =>
    new Promise<CheckedFile>((resolve, reject) => {
      if (exited != null) return reject(new Error(`the check worker thread had stopped (exit code ${exited})`));
      const done = () => {
        pending = null;
        worker.off('message', onMessage);
      };
      const onMessage = (m: CheckedFile | { fatal: string }) => {
        done();
        if ('fatal' in m) reject(new BlankspotError('MODEL_UNAVAILABLE', m.fatal));
        else resolve(m);
      };
      pending = (e) => {
        done();
        reject(e);
      };
      worker.on('message', onMessage);
      worker.postMessage(path);
    });
  return { ask, terminate: () => worker.terminate() };
}

/**
 * Checks files on this machine with one worker thread per core, each with its own model session. A file
 * whose thread stopped under it is tried once more on a new thread, then reported with its error.
 * Threads end together once every file is answered: ending one while another is inside ONNX Runtime
 * or sharp (native state shared by the process) is not something to rely on.
 */
export async function checkLocally(files: string[], options: LocalOptions): Promise<void> {
  const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), files.length || 1));
  const started: ReturnType<typeof checkWorker>[] = [];
  const spawn = () => {
    const w = checkWorker(options);
    started.push(w);
    return w;
  };
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: threads }, async () => {
        let worker = spawn();
        for (let i = next++; i < files.length; i = next++) {
          let result: CheckedFile | null = null;
          for (let attempt = 0; result == null; attempt++) {
            try {
              result = await worker.ask(files[i]);
            } catch (e) {
              if (e instanceof BlankspotError) throw e; // the model cannot load: no file can be checked
              worker = spawn();
              if (attempt >= 1) result = { path: files[i], error: { code: 'CHECK_FAILED', message: (e as Error).message } };
            }
          }
          options.onResult(result);
        }
      }),
    );
  } finally {
    await Promise.all(started.map((w) => w.terminate()));
  }
}

export interface ApiOptions {
  url: string;
  apiKey?: string;
  model?: string;
  sensitivity?: Sensitivity;
  concurrency: number;
  retries: number;
  onResult: (r: CheckedFile) => void;
  /** Waits between retries; tests shorten it. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Sends files to a deployed API: at most `concurrency` at once; 429 and 5xx are retried with backoff.
 * Resolves to how many answers were retried.
 */
export async function checkViaApi(files: string[], options: ApiOptions): Promise<{ retried: number }> {
  let retried = 0;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const endpoint = new URL('/v1/check', options.url);
  if (options.model) endpoint.searchParams.set('model', options.model);
  if (options.sensitivity) endpoint.searchParams.set('sensitivity', options.sensitivity);
  const one = async (path: string): Promise<CheckedFile> => {
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch (e) {
      return { path, error: { code: 'UNREADABLE_FILE', message: (e as Error).message } };
    }
    if (body.length === 0) return EMPTY_FILE(path);
    for (let attempt = 0; ; attempt++) {
      let res: Response | null = null;
      let failure = '';
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          body: new Uint8Array(body),
          headers: {
            'content-type': 'application/octet-stream',
            ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          },
        });
      } catch (e) {
        failure = (e as Error).message;
      }
      const retryable = res == null || res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= options.retries) {
        if (res == null) return { path, error: { code: 'NETWORK', message: failure } };
        const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        if (res.ok) {
          const { flagged, score, threshold, model, box, image } = json as unknown as CheckedFile;
          return { path, flagged, score, threshold, model, box, image };
        }
        const err = (json.error ?? {}) as { code?: string; message?: string };
        return { path, error: { code: err.code ?? `HTTP_${res.status}`, message: err.message ?? res.statusText } };
      }
      retried++;
      // Exponential backoff with jitter; a server's Retry-After wins when it asks for longer.
      const retryAfter = Number(res?.headers.get('retry-after')) * 1000 || 0;
      await res?.arrayBuffer().catch(() => undefined);
      await sleep(Math.max(retryAfter, 200 * 2 ** attempt * (0.5 + Math.random())));
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, options.concurrency) }, async () => {
      for (let i = next++; i < files.length; i = next++) options.onResult(await one(files[i]));
    }),
  );
  return { retried };
}
