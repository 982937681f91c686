/** The model input from the cells a JPEG was read in: framing, area weights, orientation. */
import { INPUT_SIZE } from '../contract.js';
import { framesOf, frameToInput, type FramedInput, type Framing, type Frames, type LumaCells } from '../framing.js';
import { storedPosition } from '../orientation.js';
import { areaWeights } from '../preprocess.js';
import { readOrNull } from './read.js';
import type { BlockRead, JpegBlockMeans, JpegLumaCells, LumaCellSide } from './types.js';

/**
 * Side (in pixels) from which a JPEG is read in the DCT domain for an input of `size`: 512, where each
 * pixel of a 64 input spans at least one block, and for larger inputs 4 pixels per input pixel, where
 * each spans at least one quarter of a block. (Below that, a full decode is cheap next to what a
 * larger input costs elsewhere; above it, a full decode of a 512-1023 px JPEG for a 128 input cost the
 * Worker about three times the block read.)
 */
export function blockMeansMinSide(size = INPUT_SIZE): number {
  return Math.max(8 * INPUT_SIZE, 4 * size);
}

/**
 * The cells a product's frame of `side` pixels is read in for an input of `size`: the coarsest that
 * are no larger than the input's pixels (whole blocks, their 4x4 quarters, or their 2x2 cells; baseline
 * JPEGs only, a progressive one is then decoded in full), or null for a frame under 2 pixels per input
 * pixel (decode it in full). That is where the fine detail is the cue: a rectangle's straight cut in a
 * silhouette on white: whole blocks of such frames lost recall that quarters keep. The 2x2 cells are for
 * the objects of a shot of several things (frames of 256-511 px), which a full decode made several times
 * slower. A whole photo (natural photos, no frame) is read from whole blocks: there a rectangle's edges
 * cross texture and show at that resolution, and quarters would only cost time (docs/experiments.md).
 */
export function frameCellSide(side: number, size = INPUT_SIZE): LumaCellSide | null {
  for (const cell of [8, 4, 2] as const) if (side >= cell * size) return cell;
  return null;
}

/**
 * The model input straight from a JPEG's DCT coefficients: the area average of the luma, each cell (an
 * 8x8 block, or its 4x4 or 2x2 parts for a product's frame finer than the blocks) standing for its
 * mean, weighted by the pixels it really holds on the right and bottom edges, then turned upright
 * for the EXIF orientation (area-averaging to a fixed square commutes with the turn). Null for a JPEG
 * this reader does not cover or one with a side under blockMeansMinSide(size): decode those in full.
 *
 * Under `content` framing the frames are found on the blocks too (the whole content's and, for a shot
 * of a few objects, each object's: `framesOf`), and read from the cells `frameCellSide` gives the
 * smallest; a frame too small for any, or a turned photo (the frame is placed on upright pixels), is
 * null: decode those in full. Finer cells are decoded only in the units holding AC coefficients, from
 * the whole blocks' read's index (`JpegScanIndex`; for a 12 MP product shot's closer look, about a
 * third less time than decoding them all). The answer's `blockRead` (its frames and that index, or for a
 * photo with no frame its block means) lets a closer look of the same photo start from them.
 */
export function jpegToInput(
  bytes: Uint8Array,
  orientation = 1,
  framing: Framing = 'full',
  size = INPUT_SIZE,
  earlier?: BlockRead,
): (FramedInput & { blockRead?: BlockRead }) | null {
  const minSide = blockMeansMinSide(size);
  // Every frame the check looks through (the whole content's and each object's) is read alike.
  const smallest = (f: Frames) => Math.min(...[f.frame, ...f.objects].map((x) => x?.side ?? 0));
  // The frames an earlier look found on this JPEG's whole blocks (its answer's `blockRead`): where
  // they call for finer cells, or for none (a full decode), reading the blocks again would only find
  // them again (for a 12 MP photo's closer look, more than a quarter of its time).
  const hint = framing === 'content' && earlier?.frames.frame != null ? earlier : null;
  // A photo an earlier look read whole (no frame on its blocks): the same block means, at this side.
  const seen = framing === 'content' && earlier?.frames.frame == null ? earlier?.blocks : undefined;
  if (seen) {
    if (seen.width < minSide || seen.height < minSide) return null;
    return { ...cellsToInput(seen, orientation, size), frame: null, objects: [], blockRead: earlier };
  }
  const known = hint != null && (frameCellSide(smallest(hint.frames), size) ?? 0) < 8 ? hint : null;
  // Under content framing the read notes where its scan's units start, for finer cells read next.
  let cells = known ? null : readOrNull(bytes, { reuse: true, minSide, index: framing === 'content' });
  if (!known && !cells) return null;
  if (framing === 'content') {
    const read: BlockRead = known ?? { frames: framesOf(lumaCells(cells!)), ...(cells!.index ? { scan: cells!.index } : {}) };
    let found = read.frames;
    if (found.frame) {
      const cell = frameCellSide(smallest(found), size);
      if (orientation > 1 || cell == null) return null;
      if (cell < 8) {
        const finer = readOrNull(bytes, { reuse: true, minSide, cell, from: read.scan });
        if (!finer) return null;
        cells = finer;
        // Found again on the finer cells: the same rule, closer to the pixels a full decode frames on.
        found = framesOf(lumaCells(cells));
        if (!found.frame || frameCellSide(smallest(found), size) == null) return null;
      }
      const src = lumaCells(cells!);
      const objects = found.objects.map((frame) => ({ input: frameToInput(src, frame, size), frame }));
      return {
        input: frameToInput(src, found.frame, size),
        width: cells!.width,
        height: cells!.height,
        frame: found.frame,
        objects,
        blockRead: read,
      };
    }
  }
  const input = { ...cellsToInput(cells!, orientation, size), frame: null, objects: [] };
  if (framing !== 'content') return input;
  // Kept for a closer look at the whole photo (a copy: the means live in memory the next read reuses).
  const { width, height, cell, cols, rows, means } = cells!;
  const blocks = { width, height, cell, cols, rows, means: means.slice() };
  return { ...input, blockRead: { frames: { frame: null, objects: [] }, blocks } };
}

/** JPEG luma cells as the framing code reads them (0-1). */
function lumaCells(src: JpegLumaCells): LumaCells {
  const { width, height, cell, cols, rows, means } = src;
  return {
    width,
    height,
    cell,
    cols,
    rows,
    readRow(row, into) {
      for (let c = 0, at = row * cols; c < cols; c++) into[c] = means[at + c] / 255;
    },
  };
}

/** Whether the DCT domain stands in for pixels well enough for an input of `size` (see blockMeansMinSide). */
export function blockMeansCover(blocks: Pick<JpegBlockMeans, 'width' | 'height'>, size = INPUT_SIZE): boolean {
  return blocks.width >= blockMeansMinSide(size) && blocks.height >= blockMeansMinSide(size);
}

/** The second half of `jpegToInput`: cell means to the model input, upright. */
function cellsToInput(
  cells: JpegLumaCells,
  orientation: number,
  size: number,
): { input: Float32Array; width: number; height: number } {
  const { width, height, cell, cols, rows, means } = cells;
  const n = size;
  // Area weights over cells: the share of each input pixel's span that each cell covers.
  const xw = areaWeights(width, n, cell);
  const yw = areaWeights(height, n, cell);
  const tmp = new Float64Array(rows * n);
  // Weights come grouped by input column: one running sum per column, kept in a register.
  const { src, weight } = xw;
  const first = new Int32Array(n + 1);
  for (let k = 0; k < xw.count; k++) first[xw.dst[k] + 1] = k + 1;
  for (let d = 1; d <= n; d++) if (first[d] < first[d - 1]) first[d] = first[d - 1];
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const trow = r * n;
    for (let d = 0; d < n; d++) {
      let sum = 0;
      for (let k = first[d]; k < first[d + 1]; k++) sum += means[row + src[k]] * weight[k];
      tmp[trow + d] = sum;
    }
  }
  const out = new Float64Array(n * n);
  for (let k = 0; k < yw.count; k++) {
    const s = yw.src[k] * n;
    const d = yw.dst[k] * n;
    const w = yw.weight[k] / 255;
    for (let x = 0; x < n; x++) out[d + x] += tmp[s + x] * w;
  }
  const input = orient(out, orientation, n);
  for (let i = 0; i < input.length; i++) input[i] = input[i] < 0 ? 0 : input[i] > 1 ? 1 : input[i];
  const swap = orientation >= 5 && orientation <= 8;
  return { input, width: swap ? height : width, height: swap ? width : height };
}

/** An n x n grid as shown for an EXIF orientation (the same turn `applyOrientation` gives the pixels). */
function orient(grid: Float64Array, orientation: number, n: number): Float32Array {
  if (orientation <= 1) return Float32Array.from(grid); // upright already: most photos
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const [sx, sy] = storedPosition(orientation, x, y, n, n);
      out[y * n + x] = grid[sy * n + sx];
    }
  return out;
}
