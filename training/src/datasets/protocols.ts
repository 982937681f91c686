/**
 * The two ways blankspot damages a photo. `paper` is the report's exact protocol; `realistic`
 * pastes at the photo's own resolution and JPEG-compresses every image, as real uploads are.
 */
import { INPUT_SIZE, PAPER_SQUARE_SIZE, preprocess, type RgbaImage } from '@blankspot/core';
import type { Rng } from '../rng.js';
import { jpegRoundTrip } from './image-io.js';

export const PROTOCOLS = ['paper', 'realistic'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Where the rectangle is, in model-input pixels (64x64 grid); fractional under `realistic`. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

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
  return { input, label: 1, box: { x, y, w: PAPER_SQUARE_SIZE, h: PAPER_SQUARE_SIZE }, hidden };
}

export function pasteSquare(input: Float32Array, x: number, y: number, size = PAPER_SQUARE_SIZE): void {
  for (let r = y; r < y + size; r++) input.fill(1, r * INPUT_SIZE + x, r * INPUT_SIZE + x + size);
}

/**
 * Realistic: with probability 1/2 a white rectangle, each side 20-30% of the photo's, pasted at the
 * photo's own resolution; then the whole image (damaged or not, so compression is no clue) is
 * JPEG-compressed at quality 70-95 and preprocessed.
 */
export async function applyRealisticProtocol(source: RgbaImage, rng: Rng): Promise<Example> {
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
    const sx = INPUT_SIZE / source.width;
    const sy = INPUT_SIZE / source.height;
    box = { x: x * sx, y: y * sy, w: w * sx, h: h * sy };
  }
  const quality = rng.intBetween(70, 95);
  return { input: preprocess(await jpegRoundTrip(image, quality)), label, box, hidden };
}

export async function applyProtocol(protocol: Protocol, source: RgbaImage, rng: Rng): Promise<Example> {
  return protocol === 'paper' ? applyPaperProtocol(source, rng) : applyRealisticProtocol(source, rng);
}
