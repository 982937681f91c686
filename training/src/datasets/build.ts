/** Builds a labelled data set, deterministic from a seed, from one or a mixture of sources. */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { INPUT_SIZE } from '@blankspot/core';
import { Rng } from '../rng.js';
import { applyProtocol, type Protocol } from './protocols.js';
import {
  binarySource,
  photoSource,
  productSource,
  solidSource,
  type DatasetName,
  type SourceSampler,
  type Split,
} from './sources.js';

const PIXELS = INPUT_SIZE * INPUT_SIZE;

/** The repo's own data (photos and cut-outs copied from Debian packages, with their attribution). */
export const REPO_DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../data');

export interface DataOptions {
  /** One set, or several mixed in equal shares. */
  sets: DatasetName[];
  protocol: Protocol;
  seed: string | number;
  counts: Record<Split, number>;
  /** Folder of natural photos for `photos` (default: the repo's data/photos/natural). */
  photosDir?: string;
  /** Folder of RGBA cut-outs for `products` (default: data/cutouts). */
  cutoutsDir?: string;
  /** A user's own catalogue images: used as `products` instead of composed cut-outs. */
  catalogueDir?: string;
  /** Called after each example, for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

/** Examples of one split, packed for training: images [count*4096] in [0,1], labels, boxes, source set. */
export interface Examples {
  count: number;
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

export async function makeSource(name: DatasetName, options: DataOptions): Promise<SourceSampler> {
  switch (name) {
    // Under the paper protocol the square is pasted after preprocessing, so 64x64 sources suffice.
    case 'binary':
      return binarySource(options.protocol === 'paper' ? INPUT_SIZE : undefined);
    case 'solid':
      return solidSource(options.protocol === 'paper' ? INPUT_SIZE : undefined);
    case 'photos':
      return photoSource(options.photosDir ?? join(REPO_DATA_DIR, 'photos/natural'), `${options.seed}:photos`);
    case 'products':
      return options.catalogueDir != null
        ? photoSource(options.catalogueDir, `${options.seed}:catalogue`, 0.8)
        : productSource(options.cutoutsDir ?? join(REPO_DATA_DIR, 'cutouts'), `${options.seed}:products`);
  }
}

/** Parallel enough to keep sharp's thread pool (both cores) busy while JS preprocesses. */
const CONCURRENCY = 16;

export async function buildSplits(options: DataOptions): Promise<Splits> {
  const sources = await Promise.all(options.sets.map((s) => makeSource(s, options)));
  const total = options.counts.train + options.counts.val + options.counts.test;
  let done = 0;
  const out = {} as Splits;
  for (const split of ['train', 'val', 'test'] as const) {
    const count = options.counts[split];
    const ex: Examples = {
      count,
      // Shared memory: gradient worker threads read the same examples without a copy.
      images: new Float32Array(new SharedArrayBuffer(count * PIXELS * 4)),
      labels: new Uint8Array(new SharedArrayBuffer(count)),
      boxes: new Float32Array(count * 4).fill(-1),
      setIndex: new Uint8Array(count),
      hidden: new Uint8Array(count),
      sets: options.sets,
    };
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        // Sets interleave so any prefix of a mixture is balanced; each example has its own seed.
        const s = i % sources.length;
        const rng = Rng.for(options.seed, options.protocol, options.sets[s], split, i);
        const image = await sources[s].sample(split, rng);
        const example = await applyProtocol(options.protocol, image, rng);
        ex.images.set(example.input, i * PIXELS);
        ex.labels[i] = example.label;
        ex.setIndex[i] = s;
        ex.hidden[i] = example.hidden ? 1 : 0;
        if (example.box) ex.boxes.set([example.box.x, example.box.y, example.box.w, example.box.h], i * 4);
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
  return ex.images.subarray(i * PIXELS, (i + 1) * PIXELS);
}
