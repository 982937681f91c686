/**
 * The two ways blankspot damages a photo. `paper` is the report's exact protocol; `realistic`
 * pastes at the photo's own resolution and JPEG-compresses every image, as real uploads are.
 */
import {
  INPUT_SIZE,
  PAPER_SQUARE_SIZE,
  photoBoxToInput,
  preprocess,
  preprocessFramed,
  type Box,
  type Framing,
  type RgbaImage,
} from '@blankspot/core';
import type { Rng } from '../rng.js';
import { jpegRoundTrip, uploadRoundTrip } from './image-io.js';

export const PROTOCOLS = ['paper', 'realistic', 'upload'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Where the rectangle is, in model-input pixels (64x64 grid); fractional under `realistic`. */
export type { Box } from '@blankspot/core';

export interface Example {
  input: Float32Array;
  label: 0 | 1;
  box: Box | null;
  /** The rectangle landed on an area that was already pure white: nobody can see it (Bayes ceiling). */
  hidden: boolean;
}

/** Paper: preprocess, then with probability 1/2 a 16x16 square of exactly 1.0, uniform over positions fully inside. */
export function applyPaperProtocol(source: RgbaImage, rng: Rng): Example {
  const input = preprocess(source);
  if (!rng.chance(0.5)) return { input, label: 0, box: null, hidden: false };
  const positions = INPUT_SIZE - PAPER_SQUARE_SIZE + 1;
  const x = rng.int(positions);
  const y = rng.int(positions);
  let hidden = true;
  for (let r = y; r < y + PAPER_SQUARE_SIZE && hidden; r++) {
    for (let c = x; c < x + PAPER_SQUARE_SIZE; c++) if (input[r * INPUT_SIZE + c] !== 1) hidden = false;
  }
  pasteSquare(input, x, y);
  return { input, label: 1, box: { x, y, width: PAPER_SQUARE_SIZE, height: PAPER_SQUARE_SIZE }, hidden };
}

export function pasteSquare(input: Float32Array, x: number, y: number, size = PAPER_SQUARE_SIZE): void {
  for (let r = y; r < y + size; r++) input.fill(1, r * INPUT_SIZE + x, r * INPUT_SIZE + x + size);
}

/**
 * Realistic: with probability 1/2 a white rectangle, each side 20-30% of the photo's, pasted at the
 * photo's own resolution; then the whole image (damaged or not, so compression is no clue) is
 * JPEG-compressed at quality 70-95 and preprocessed.
 */
export async function applyRealisticProtocol(
  source: RgbaImage,
  rng: Rng,
  framing: Framing = 'full',
  size = INPUT_SIZE,
): Promise<Example> {
  const label: 0 | 1 = rng.chance(0.5) ? 1 : 0;
  let image = source;
  let box: Box | null = null;
  let hidden = false;
  if (label === 1) {
    const w = Math.max(1, Math.round(rng.uniform(0.2, 0.3) * source.width));
    const h = Math.max(1, Math.round(rng.uniform(0.2, 0.3) * source.height));
    const x = rng.int(source.width - w + 1);
    const y = rng.int(source.height - h + 1);
    const data = Uint8Array.from(source.data);
    hidden = true;
    for (let r = y; r < y + h && hidden; r++) {
      for (let p = (r * source.width + x) * 4; p < (r * source.width + x + w) * 4; p += 4) {
        // Opaque white, or fully transparent (composed onto white): the rectangle changes nothing there.
        if (!((data[p] === 255 && data[p + 1] === 255 && data[p + 2] === 255) || data[p + 3] === 0)) {
          hidden = false;
          break;
        }
      }
    }
    for (let r = y; r < y + h; r++) data.fill(255, (r * source.width + x) * 4, (r * source.width + x + w) * 4);
    image = { width: source.width, height: source.height, data };
    box = { x, y, width: w, height: h };
  }
  const quality = rng.intBetween(70, 95);
  return { ...framedInput(await jpegRoundTrip(image, quality), box, framing, source, size), label, hidden };
}

/**
 * Damage is what a person can see. A rectangle counts as damage when it changed at least
 * VISIBLE_MIN_PIXELS pixels of the 64x64 model input by at least VISIBLE_MIN_CHANGE (13/255), both
 * measured before compression; anything less (a rectangle on pure white or transparent, or a near-white
 * fill on near-white) left the photo as it was and the example is clean. Six input pixels are about
 * 0.15% of the photo: a 2x3 patch, the smallest a seller notices on a thumbnail. The `paper` protocol
 * keeps its exact definition (every square is a positive) for Table 1.
 */
export const VISIBLE_MIN_CHANGE = 0.05;
export const VISIBLE_MIN_PIXELS = 6;

/** Input pixels that differ by at least VISIBLE_MIN_CHANGE between two model inputs. */
export function changedPixels(clean: Float32Array, damaged: Float32Array): number {
  let n = 0;
  for (let i = 0; i < clean.length; i++) if (Math.abs(damaged[i] - clean[i]) >= VISIBLE_MIN_CHANGE) n++;
  return n;
}

/** The rule on a count of changed input pixels (`changedPixels`): damage, or a photo as it was. */
export function isVisibleCount(changed: number): boolean {
  return changed >= VISIBLE_MIN_PIXELS;
}

export function isVisibleChange(clean: Float32Array, damaged: Float32Array): boolean {
  return isVisibleCount(changedPixels(clean, damaged));
}

/** Where a rectangle of w x h goes: over content (a non-white pixel inside it) when the photo has any. */
function placeOverContent(image: RgbaImage, w: number, h: number, rng: Rng): { x: number; y: number } {
  for (let tries = 0; tries < 40; tries++) {
    const px = rng.int(image.width);
    const py = rng.int(image.height);
    const p = (py * image.width + px) * 4;
    const d = image.data;
    if (isContent(d, p)) return rectangleAround(image, px, py, w, h, rng);
  }
  return { x: rng.int(image.width - w + 1), y: rng.int(image.height - h + 1) };
}

/** Where a w x h rectangle that holds pixel (px, py) at a random place inside it goes, kept in the image. */
function rectangleAround(image: RgbaImage, px: number, py: number, w: number, h: number, rng: Rng): { x: number; y: number } {
  const x = Math.min(image.width - w, Math.max(0, px - rng.int(w)));
  const y = Math.min(image.height - h, Math.max(0, py - rng.int(h)));
  return { x, y };
}

/** Content: neither transparent nor white (what the rectangles are placed over). */
function isContent(d: RgbaImage['data'], p: number): boolean {
  return d[p + 3] > 0 && d[p] + d[p + 1] + d[p + 2] < 3 * 245;
}

/**
 * Where a rectangle of w x h goes so that it straddles an object's outline: around a content pixel
 * with white or transparency a few pixels away, so it erases part of the object and part of its
 * background, the way a careless retouch does. What is left is a straight cut in the object's
 * silhouette, the damage that is hardest to see on white. Over content when no outline is found
 * (a photo without a plain background).
 */
export function placeAcrossOutline(image: RgbaImage, w: number, h: number, rng: Rng): { x: number; y: number } {
  const { width, height, data } = image;
  const reach = Math.max(2, Math.round(Math.min(width, height) / 100));
  for (let tries = 0; tries < 200; tries++) {
    const px = rng.int(width);
    const py = rng.int(height);
    if (!isContent(data, (py * width + px) * 4)) continue;
    const outside = [
      [px + reach, py],
      [px - reach, py],
      [px, py + reach],
      [px, py - reach],
    ].some(([qx, qy]) => qx >= 0 && qy >= 0 && qx < width && qy < height && !isContent(data, (qy * width + qx) * 4));
    if (outside) return rectangleAround(image, px, py, w, h, rng);
  }
  return placeOverContent(image, w, h, rng);
}

/**
 * A rectangle that changed at least VISIBLE_MIN_PIXELS input pixels but fewer than this is damage (the
 * label rule above holds everywhere) that hardly shows: a sliver off an outline. The upload generator
 * draws such a rectangle again, up to UPLOAD_REDRAWS times (the last draw stands, damage or clean as the
 * rule says), so that most of what the trainer is shown as damage is damage it can learn the look of.
 * GENERATOR_VERSION 6; before, every visible draw stood (what it changed: models/CHANGELOG.md, 1.2.0).
 */
export const UPLOAD_CLEAR_PIXELS = 20;
const UPLOAD_REDRAWS = 7;

/**
 * Upload: what sellers' photos go through. With probability 1/2 a rectangle of any aspect, each side
 * UPLOAD_SIDES of the photo's, is pasted at the photo's resolution: across an object's outline two times
 * in five, over content two in five, anywhere one in five (GENERATOR_VERSION 3; before, over content
 * four in five and anywhere one in five); its fill is pure white, or near-white (250-254) one time in
 * five. The label is whether it is visible (above); one that barely shows is drawn again
 * (UPLOAD_CLEAR_PIXELS). Then every image, damaged or not, may be resized (half the time, to 50-95%,
 * which also softens the rectangle's edges) and is JPEG-compressed at quality 60-98, with 4:2:0 chroma
 * three times in four.
 */
export async function applyUploadProtocol(
  source: RgbaImage,
  rng: Rng,
  framing: Framing = 'full',
  size = INPUT_SIZE,
): Promise<Example> {
  const damage = rng.chance(0.5) ? uploadDamage(source, rng) : null;
  const image = damage?.image ?? source;
  const box = damage?.box ?? null;
  const label: 0 | 1 = damage ? 1 : 0;
  const scale = rng.chance(0.5) ? rng.uniform(0.5, 0.95) : 1;
  const quality = rng.intBetween(60, 98);
  const uploaded = await uploadRoundTrip(image, scale, quality, rng.chance(0.25));
  return { ...framedInput(uploaded, box, framing, source, size), label, hidden: false };
}

/**
 * The upload protocol's rectangle pasted into a copy of `source`, drawn again while it barely shows
 * (UPLOAD_CLEAR_PIXELS), with the input pixels it changed; null when it is not visible at all, so
 * the example is clean and the photo as it was.
 */
export function uploadDamage(source: RgbaImage, rng: Rng): { image: RgbaImage; box: Box; changed: number } | null {
  const clean = preprocess(source);
  for (let draw = 0; ; draw++) {
    const damaged = pasteUploadRectangle(source, rng);
    const changed = changedPixels(clean, preprocess(damaged.image));
    if (!isVisibleCount(changed)) return null;
    if (changed >= UPLOAD_CLEAR_PIXELS || draw === UPLOAD_REDRAWS) return { ...damaged, changed };
  }
}

/** Each side of an upload rectangle, as a share of the photo's. */
export const UPLOAD_SIDES = { min: 0.05, max: 0.4 } as const;

/** One draw of the upload protocol's rectangle: its size, place and fill, pasted into a copy of `source`. */
function pasteUploadRectangle(source: RgbaImage, rng: Rng): { image: RgbaImage; box: Box } {
  const w = Math.max(1, Math.round(rng.uniform(UPLOAD_SIDES.min, UPLOAD_SIDES.max) * source.width));
  const h = Math.max(1, Math.round(rng.uniform(UPLOAD_SIDES.min, UPLOAD_SIDES.max) * source.height));
  const where = rng.float();
  const { x, y } =
    where < 0.4
      ? placeAcrossOutline(source, w, h, rng)
      : where < 0.8
        ? placeOverContent(source, w, h, rng)
        : { x: rng.int(source.width - w + 1), y: rng.int(source.height - h + 1) };
  const fill = rng.chance(0.8) ? 255 : rng.intBetween(250, 254);
  const data = Uint8Array.from(source.data);
  for (let r = y; r < y + h; r++) {
    for (let p = (r * source.width + x) * 4; p < (r * source.width + x + w) * 4; p += 4) {
      data[p] = data[p + 1] = data[p + 2] = fill;
      data[p + 3] = 255;
    }
  }
  return { image: { width: source.width, height: source.height, data }, box: { x, y, width: w, height: h } };
}

/**
 * The model input of an uploaded image under a framing, with the rectangle (in the source's pixels)
 * in input pixels. The frame is found on the upload itself, damage and all, as a runtime finds it.
 */
function framedInput(
  uploaded: RgbaImage,
  sourceBox: Box | null,
  framing: Framing,
  source: RgbaImage,
  size: number,
): { input: Float32Array; box: Box | null } {
  const { input, frame } = preprocessFramed(uploaded, framing, size);
  if (!sourceBox) return { input, box: null };
  // The upload may be resized: the box scales with it.
  const k = uploaded.width / source.width;
  const scaled = { x: sourceBox.x * k, y: sourceBox.y * k, width: sourceBox.width * k, height: sourceBox.height * k };
  return { input, box: photoBoxToInput(scaled, frame, uploaded.width, uploaded.height, size) };
}

export async function applyProtocol(
  protocol: Protocol,
  source: RgbaImage,
  rng: Rng,
  framing: Framing = 'full',
  size = INPUT_SIZE,
): Promise<Example> {
  if (protocol === 'paper') return applyPaperProtocol(source, rng);
  return protocol === 'realistic'
    ? applyRealisticProtocol(source, rng, framing, size)
    : applyUploadProtocol(source, rng, framing, size);
}
