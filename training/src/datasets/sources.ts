/**
 * Where clean images come from, one sampler per data set. Each gives an undamaged RGBA image at its
 * own resolution; a protocol then damages (or not) and preprocesses it.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { BlankspotError, type RgbaImage } from '@blankspot/core';
import { Rng } from '../rng.js';
import { compose, cropRgba, decodeFile, resizeRgba, softShadow, solidRgba } from './image-io.js';
import { productUpload, uploadedPhoto } from './scenes.js';

export const DATASET_NAMES = ['binary', 'solid', 'photos', 'products'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];
export type Split = 'train' | 'val' | 'test';
/** Share of source photos (never crops) in each split. */
export const SPLIT_SHARES: Record<Split, number> = { train: 0.7, val: 0.15, test: 0.15 };

export interface SourceSampler {
  /** A clean image for one example; `rng` is that example's own source of randomness. */
  sample(split: Split, rng: Rng): Promise<RgbaImage>;
  /** How many distinct source files feed each split (0 for generated sets). */
  sourceCount(split: Split): number;
}

/** Side of generated images under the realistic protocol, where pasting happens at full resolution. */
const GENERATED_SIDE = 256;

/** Binary: solid black, as the paper. */
export function binarySource(side = GENERATED_SIDE): SourceSampler {
  return { sample: async () => solidRgba(side, side, 0), sourceCount: () => 0 };
}

/**
 * Solid: one grey level per image. Levels stop at 229/255 (0.9): a background as bright as the
 * white square would hide it, and the paper's 100% on Solid shows its backgrounds never were.
 */
export function solidSource(side = GENERATED_SIDE): SourceSampler {
  return { sample: async (_split, rng) => solidRgba(side, side, rng.intBetween(0, 229)), sourceCount: () => 0 };
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export async function listImages(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (e) {
    throw new BlankspotError('BAD_TRAINING_INPUT', `cannot read image folder ${dir}`, { cause: e });
  }
  const files = entries
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
  if (files.length === 0) throw new BlankspotError('BAD_TRAINING_INPUT', `no JPEG/PNG/WebP images in ${dir}`);
  return files;
}

/** Assigns whole files to splits, deterministically from the seed, so test photos are never seen in training. */
export function splitFiles(files: readonly string[], seed: string | number): Record<Split, string[]> {
  const shuffled = new Rng(`${seed}:split`).shuffle([...files]);
  const nVal = Math.max(1, Math.round(shuffled.length * SPLIT_SHARES.val));
  const nTest = Math.max(1, Math.round(shuffled.length * SPLIT_SHARES.test));
  if (shuffled.length < 3) throw new BlankspotError('BAD_TRAINING_INPUT', 'need at least 3 images to split into train/val/test');
  return {
    test: shuffled.slice(0, nTest),
    val: shuffled.slice(nTest, nTest + nVal),
    train: shuffled.slice(nTest + nVal),
  };
}

/** Decodes each file once; data sets draw many crops from few photos. */
class DecodedCache {
  private readonly images = new Map<string, Promise<RgbaImage>>();
  get(path: string): Promise<RgbaImage> {
    let image = this.images.get(path);
    if (image == null) {
      image = decodeFile(path).catch((e: unknown) => {
        throw new BlankspotError('BAD_TRAINING_INPUT', `cannot decode ${path}`, { cause: e });
      });
      this.images.set(path, image);
    }
    return image;
  }
}

/**
 * Photos: random square crops at several scales (side 40-100% of the shorter side), so one photo
 * yields many different views; under the paper protocol each crop is then resized to 64x64.
 */
export async function photoSource(dir: string, seed: string | number, minScale = 0.4): Promise<SourceSampler> {
  const splits = splitFiles(await listImages(dir), seed);
  const cache = new DecodedCache();
  return {
    sourceCount: (split) => splits[split].length,
    async sample(split, rng) {
      const photo = await cache.get(rng.pick(splits[split]));
      const short = Math.min(photo.width, photo.height);
      const side = Math.max(1, Math.round(short * rng.uniform(minScale, 1)));
      const left = rng.int(photo.width - side + 1);
      const top = rng.int(photo.height - side + 1);
      return cropRgba(photo, left, top, side, side);
    },
  };
}

/** Photos as uploaded (the `upload` protocol): crops at upload-like sizes, some over-exposed. */
export async function uploadPhotoSource(dir: string, seed: string | number): Promise<SourceSampler> {
  const splits = splitFiles(await listImages(dir), seed);
  const cache = new DecodedCache();
  return {
    sourceCount: (split) => splits[split].length,
    sample: async (split, rng) => uploadedPhoto(await cache.get(rng.pick(splits[split])), rng),
  };
}

/**
 * Product uploads as catalogues hold them (the `upload` protocol, `productUpload`'s layouts); cut-outs
 * split by file as below. With `photos` (a folder and the seed key its split is drawn with), some objects
 * are pieces of that split's photos, and some uploads that split's photos padded onto white, so a held-out
 * photo never shows up inside a training product either. With `objects` (another folder of RGBA objects,
 * split by file under its own seed key), half the objects come from it.
 */
export async function productSceneSource(
  cutoutDir: string,
  seed: string | number,
  photos?: { dir: string; seed: string | number },
  objects?: { dir: string; seed: string | number },
): Promise<SourceSampler> {
  const splits = splitFiles(await listImages(cutoutDir), seed);
  const photoSplits = photos != null ? splitFiles(await listImages(photos.dir), photos.seed) : null;
  const objectSplits = objects != null ? splitFiles(await listImages(objects.dir), objects.seed) : null;
  const cache = new DecodedCache();
  return {
    sourceCount: (split) => splits[split].length + (objectSplits?.[split].length ?? 0),
    sample: (split, rng) =>
      productUpload(
        () => cache.get(rng.pick(objectSplits != null && rng.chance(0.5) ? objectSplits[split] : splits[split])),
        rng,
        photoSplits != null ? () => cache.get(rng.pick(photoSplits[split])) : undefined,
      ),
  };
}

/**
 * Products on white: a real photo cut-out scaled so its longest side is 50-90% of the canvas, placed
 * near the centre with jitter, on a white or near-white background (0.95-1.0), half the time with a
 * soft drop shadow: a stand-in for a retail catalogue.
 */
export async function productSource(cutoutDir: string, seed: string | number, canvas = GENERATED_SIDE): Promise<SourceSampler> {
  const splits = splitFiles(await listImages(cutoutDir), seed);
  const cache = new DecodedCache();
  return {
    sourceCount: (split) => splits[split].length,
    async sample(split, rng) {
      const cutout = await cache.get(rng.pick(splits[split]));
      const longest = rng.uniform(0.5, 0.9) * canvas;
      const scale = longest / Math.max(cutout.width, cutout.height);
      const w = Math.max(1, Math.round(cutout.width * scale));
      const h = Math.max(1, Math.round(cutout.height * scale));
      const object = await resizeRgba(cutout, w, h);
      const jitter = 0.05 * canvas;
      const left = (canvas - w) / 2 + rng.uniform(-jitter, jitter);
      const top = (canvas - h) / 2 + rng.uniform(-jitter, jitter);
      const background = Math.round(255 * rng.uniform(0.95, 1));
      const layers = [];
      if (rng.chance(0.5)) {
        const sigma = rng.uniform(2, 6);
        const shadow = await softShadow(object, sigma, rng.uniform(0.15, 0.4));
        const pad = (shadow.width - w) / 2;
        layers.push({ image: shadow, left: left - pad + rng.uniform(2, 8), top: top - pad + rng.uniform(2, 8) });
      }
      layers.push({ image: object, left, top });
      return compose(canvas, canvas, background, layers);
    },
  };
}
