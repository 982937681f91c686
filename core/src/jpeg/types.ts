/** The JPEG reader's answers, and its one internal error. */
import type { Frames } from '../framing.js';

/** Mean luma (0-255, unrounded) of each 8x8 block of a JPEG, row-major, blocksWide x blocksHigh. */
export interface JpegBlockMeans {
  /** The image's own size, before any EXIF orientation. */
  width: number;
  height: number;
  blocksWide: number;
  blocksHigh: number;
  means: Float32Array;
}

/**
 * Mean luma (0-255, unrounded) of cells of `cell` x `cell` pixels (8: the blocks; 4: their quarters;
 * 2: their sixteenths), row-major, cols x rows; cells on the right and bottom edges may hold fewer pixels.
 */
export interface JpegLumaCells {
  width: number;
  height: number;
  cell: LumaCellSide;
  cols: number;
  rows: number;
  means: Float32Array;
}

/**
 * What a read of a baseline JPEG's whole blocks learnt that a read of its finer cells can start from:
 * where each unit (an MCU, or a block of a one-component scan) of the luma's scan starts in the
 * entropy-coded data, with the luma DC predictor there, every luma block's DC, and the units that hold
 * all of the luma blocks with an AC coefficient. A block without one is flat: each of its cells is its
 * mean. So the finer read decodes only those units and gives every other block's cells from its DC,
 * the very cells a read of the whole scan gives (a product on white: the units around the product).
 */
export interface JpegScanIndex {
  /** Each unit's start, in bits into the scan's data without byte stuffing. */
  starts: Int32Array;
  /** The luma DC predictor at each unit's start. */
  preds: Int32Array;
  /** Each luma block's DC coefficient, quantised, as decoded. */
  dc: Int32Array;
  /** Units per line of the scan, and the first and last unit columns and rows holding an AC coefficient (none: x1 < x0). */
  unitsPerLine: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * What an earlier look learnt reading a JPEG's whole blocks: the frames found on them, where its scan's
 * units start, and where no frame was found, the blocks' means themselves (the whole photo is read from
 * whole blocks at any input side).
 */
export interface BlockRead {
  frames: Frames;
  scan?: JpegScanIndex;
  blocks?: JpegLumaCells;
}

/** The cells a JPEG's luma is read in: whole 8x8 blocks, or their 4x4 or 2x2 parts. */
export type LumaCellSide = 8 | 4 | 2;

/** A component of the frame, as its header and the scan headers describe it. */
export interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Blocks of the component that hold image data (the rest pad whole MCUs). */
  usedBlocksPerLine: number;
  usedBlocksPerColumn: number;
  dcTable: number;
  acTable: number;
}

/** The JPEG is outside what this reader covers, or damaged: decode it in full instead. */
export class NotCovered extends Error {}
export const notCovered = (why: string): never => {
  throw new NotCovered(why);
};
