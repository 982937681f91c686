/**
 * A JPEG's luma read in the DCT domain. The DC coefficient of each 8x8 block of the Y component is
 * 8 x (the block's mean luma - 128), and JPEG's Y is Rec.601 luma, the very grey the model takes. So
 * the means of all blocks come from the entropy-coded data alone: no inverse DCT, no chroma, no colour
 * conversion, no full-size pixels. A 12-megapixel photo becomes 188k block means.
 *
 * For a product's frame finer than the blocks (a 128x128 input from a frame under 1024 px) a block's
 * four 4x4 quarters are read instead: a quarter's mean is exact from the coefficients whose frequencies are
 * 0 or odd in both directions (the even ones average to zero over half a block), 25 of the 64, still
 * without an inverse DCT. For a frame under 512 px (an object of a shot of several things) the sixteen
 * 2x2 cells of each block are read the same way, from the 49 coefficients whose frequencies are not 4
 * (frequency 4 averages to zero over every pair of pixels). Baseline JPEGs only: a progressive one spreads
 * those coefficients over refinement scans, and where cells finer than blocks are wanted it is decoded
 * in full (the same input whatever the encoder chose).
 *
 * Written by hand because no JavaScript decoder stops at the DC coefficients, and the same code must
 * run in Node, in Workers and in browsers so all three give the same model input. It covers the JPEGs
 * cameras and the web make (8-bit Huffman, baseline or progressive, greyscale or YCbCr, restart
 * markers) and answers null for anything else (arithmetic coding, lossless, 12-bit, CMYK, RGB JPEGs,
 * damaged or truncated data), which the caller then decodes in full.
 */

import { INPUT_SIZE } from './contract.js';
import { framesOf, frameToInput, type FramedInput, type Framing, type Frames, type LumaCells } from './framing.js';
import { storedPosition } from './orientation.js';
import { areaWeights } from './preprocess.js';
import { JPEG_MARKER, JpegStructureError, isFrameMarker, jpegSegments } from './jpeg-segments.js';

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

interface Component {
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

/** Canonical Huffman code tables: a 9-bit lookup for short codes, limits per length for the rest. */
interface HuffmanTable {
  fast: Int32Array;
  /**
   * For AC tables: per 12-bit lookahead, the bits one or two whole coefficients take (code and
   * magnitude) and how far they move along the block (64 for end of block); see `pairUp`. 0 when longer.
   */
  skip: Int32Array;
  /** Per `skip` entry, the magnitude sizes of its coefficients: first | second << 4 (0: none, or EOB/ZRL). */
  sizes: Uint8Array;
  maxCode: Int32Array;
  valPtr: Int32Array;
  values: Uint8Array;
}

const FAST_BITS = 9;
/** Lookahead of the AC skip table: most coefficients of a photo (code and magnitude) fit in 12 bits. */
const SKIP_BITS = 12;

/** The JPEG is outside what this reader covers, or damaged: decode it in full instead. */
class NotCovered extends Error {}
const notCovered = (why: string): never => {
  throw new NotCovered(why);
};

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const fast = new Int32Array(1 << FAST_BITS);
  const skip = new Int32Array(1 << SKIP_BITS);
  const size1 = new Uint8Array(1 << SKIP_BITS);
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    valPtr[len] = k - code;
    const n = counts[len - 1];
    for (let i = 0; i < n; i++, k++, code++) {
      if (len <= FAST_BITS) {
        const shift = FAST_BITS - len;
        for (let j = 0; j < 1 << shift; j++) fast[(code << shift) | j] = (len << 8) | values[k] | 0x10000;
      }
      const rs = values[k];
      const size = rs & 15;
      const step = size ? (rs >> 4) + 1 : rs === 0xf0 ? 16 : 64;
      if (len + size <= SKIP_BITS) {
        const shift = SKIP_BITS - len;
        for (let j = 0; j < 1 << shift; j++) {
          skip[(code << shift) | j] = ((len + size) << 8) | step;
          size1[(code << shift) | j] = size;
        }
      }
    }
    if (n) maxCode[len] = code - 1;
    if (code > 1 << len) notCovered('bad Huffman table');
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  const { pair, sizes } = pairUp(skip, size1);
  return { fast, skip: pair, sizes, maxCode, valPtr, values };
}

/**
 * Two coefficients per lookup where both fit in the lookahead: entries become
 * totalBits << 20 | firstBits << 16 | totalStep << 8 | firstStep. The second is taken only when the
 * first does not end the block (the loop checks), so an end of block is never read past.
 */
function pairUp(single: Int32Array, size1: Uint8Array): { pair: Int32Array; sizes: Uint8Array } {
  const mask = (1 << SKIP_BITS) - 1;
  const pair = new Int32Array(single.length);
  const sizes = new Uint8Array(single.length);
  for (let i = 0; i < single.length; i++) {
    const e1 = single[i];
    if (!e1) continue;
    const bits1 = e1 >> 8;
    const step1 = e1 & 0xff;
    let bits = bits1;
    let step = step1;
    if (step1 < 64 && bits1 < SKIP_BITS) {
      const e2 = single[(i << bits1) & mask];
      // The second must lie wholly in the bits looked at, not in the zeros shifted in.
      if (e2 && e2 >> 8 <= SKIP_BITS - bits1) {
        bits += e2 >> 8;
        step += e2 & 0xff;
        sizes[i] = size1[(i << bits1) & mask] << 4;
      }
    }
    pair[i] = (bits << 20) | (bits1 << 16) | (step << 8) | step1;
    sizes[i] |= size1[i];
  }
  return { pair, sizes };
}

const EMPTY_TABLE: HuffmanTable = {
  fast: new Int32Array(1 << FAST_BITS),
  skip: new Int32Array(1 << SKIP_BITS),
  sizes: new Uint8Array(1 << SKIP_BITS),
  maxCode: new Int32Array(18).fill(-1),
  valPtr: new Int32Array(17),
  values: new Uint8Array(0),
};

/** Block means of the JPEG's luma, or null when it is not one this reader covers (decode it in full). */
export function jpegLumaBlockMeans(data: Uint8Array): JpegBlockMeans | null {
  const cells = readOrNull(data, { reuse: false });
  return cells && { ...cells, blocksWide: cells.cols, blocksHigh: cells.rows };
}

/** The cells a JPEG's luma is read in: whole 8x8 blocks, or their 4x4 or 2x2 parts. */
export type LumaCellSide = 8 | 4 | 2;

/**
 * Means of the 4x4 quarters of the luma blocks of a baseline JPEG; null for a progressive one or one not
 * covered. `from`: the index of an earlier read of these very bytes (`jpegScanIndex`), to decode only
 * the units holding AC coefficients (the same means).
 */
export function jpegLumaQuarterMeans(data: Uint8Array, from?: JpegScanIndex): JpegLumaCells | null {
  return readOrNull(data, { reuse: false, cell: 4, from });
}

/** Means of the 2x2 cells of the luma blocks of a baseline JPEG, as `jpegLumaQuarterMeans`. */
export function jpegLumaPairMeans(data: Uint8Array, from?: JpegScanIndex): JpegLumaCells | null {
  return readOrNull(data, { reuse: false, cell: 2, from });
}

/** The block means of a baseline JPEG and its scan's index (`JpegScanIndex`); null for one not covered, no index for a progressive one. */
export function jpegScanIndex(data: Uint8Array): (JpegBlockMeans & { index?: JpegScanIndex }) | null {
  const cells = readOrNull(data, { reuse: false, index: true });
  return cells && { ...cells, blocksWide: cells.cols, blocksHigh: cells.rows };
}

interface ReadOptions {
  /** The means go into memory the next call reuses (for callers that are done with them by then). */
  reuse: boolean;
  /** A smaller image is refused as soon as its frame header is read. */
  minSide?: number;
  /** Cells finer than the blocks (4 or 2 px) are read from AC coefficients: a progressive JPEG is then refused. */
  cell?: LumaCellSide;
  /** Note where the luma scan's units start (a baseline JPEG's `index` in the answer). */
  index?: boolean;
  /** Finer cells from an earlier read's index: only the units holding AC coefficients are decoded. */
  from?: JpegScanIndex;
}

function readOrNull(data: Uint8Array, options: ReadOptions): (JpegLumaCells & { index?: JpegScanIndex }) | null {
  try {
    return readLumaCells(data, options);
  } catch (e) {
    if (e instanceof NotCovered || e instanceof JpegStructureError || e instanceof RangeError) return null;
    throw e;
  }
}

function readLumaCells(
  data: Uint8Array,
  { reuse, minSide = 1, cell = 8, index = false, from }: ReadOptions,
): JpegLumaCells & { index?: JpegScanIndex } {
  // Each table's steps in zigzag order, as DQT holds them.
  const steps: (Float64Array | undefined)[] = [];
  const dcTables: HuffmanTable[] = [];
  const acTables: HuffmanTable[] = [];
  let frame: {
    width: number;
    height: number;
    progressive: boolean;
    components: Component[];
    mcusX: number;
    mcusY: number;
  } | null = null;
  let dc: Int32Array | null = null;
  // Per luma block, its finer cells' means less 128, row-major within the block.
  let parts: Float32Array | null = null;
  const perBlock = (8 / cell) ** 2;
  let restartInterval = 0;
  let adobeTransform = -1;
  let scanIndex: JpegScanIndex | undefined;
  let lumaScans = 0;
  const u16 = (at: number) => {
    if (at + 1 >= data.length) notCovered('truncated header');
    return (data[at] << 8) | data[at + 1];
  };

  for (const segment of jpegSegments(data)) {
    const { marker, end } = segment;
    if (marker === JPEG_MARKER.EOI) break;
    const seg = segment.payload;
    const length = end - segment.start - 2;
    switch (marker) {
      case JPEG_MARKER.DQT: {
        for (let p = seg; p < end;) {
          const pq = data[p] >> 4;
          const tq = data[p] & 15;
          if (tq > 3) notCovered('bad quantisation table');
          const table = new Float64Array(64);
          for (let k = 0; k < 64; k++) table[k] = pq ? u16(p + 1 + 2 * k) : data[p + 1 + k];
          steps[tq] = table;
          p += 1 + (pq ? 128 : 64);
        }
        break;
      }
      case JPEG_MARKER.DHT: {
        for (let p = seg; p < end;) {
          const tc = data[p] >> 4;
          const th = data[p] & 15;
          if (tc > 1 || th > 3) notCovered('bad Huffman table');
          const counts = data.subarray(p + 1, p + 17);
          let total = 0;
          for (let i = 0; i < 16; i++) total += counts[i];
          if (p + 17 + total > end) notCovered('bad Huffman table');
          const table = buildHuffman(counts, data.subarray(p + 17, p + 17 + total));
          (tc === 0 ? dcTables : acTables)[th] = table;
          p += 17 + total;
        }
        break;
      }
      case JPEG_MARKER.DRI:
        restartInterval = u16(seg);
        break;
      case JPEG_MARKER.APP14:
        // Adobe APP14: transform 0 on three components means RGB, not YCbCr.
        if (length >= 14 && String.fromCharCode(...data.subarray(seg, seg + 5)) === 'Adobe') adobeTransform = data[seg + 11];
        break;
      case JPEG_MARKER.SOF0:
      case JPEG_MARKER.SOF1:
      case JPEG_MARKER.SOF2: {
        if (frame) notCovered('two frames');
        if (data[seg] !== 8) notCovered('not 8-bit');
        const height = u16(seg + 1);
        const width = u16(seg + 3);
        const n = data[seg + 5];
        if (!width || !height) notCovered('no size in the frame header');
        if (width < minSide || height < minSide) notCovered('too small to be read from block means');
        if (n !== 1 && n !== 3) notCovered('not greyscale or YCbCr');
        if (n === 3 && adobeTransform === 0) notCovered('an RGB JPEG');
        const components: Component[] = [];
        for (let i = 0; i < n; i++) {
          const p = seg + 6 + i * 3;
          const h = data[p + 1] >> 4;
          const v = data[p + 1] & 15;
          if (h < 1 || h > 4 || v < 1 || v > 4) notCovered('bad sampling factors');
          components.push({
            id: data[p],
            h,
            v,
            tq: data[p + 2] & 3,
            blocksPerLine: 0,
            blocksPerColumn: 0,
            usedBlocksPerLine: 0,
            usedBlocksPerColumn: 0,
            dcTable: 0,
            acTable: 0,
          });
        }
        // Component ids 'R','G','B' also mean an RGB JPEG.
        if (n === 3 && components[0].id === 0x52 && components[1].id === 0x47 && components[2].id === 0x42)
          notCovered('an RGB JPEG');
        const hMax = Math.max(...components.map((c) => c.h));
        const vMax = Math.max(...components.map((c) => c.v));
        // Luma must be at full resolution so that its blocks are 8x8 pixels of the image.
        if (components[0].h !== hMax || components[0].v !== vMax) notCovered('subsampled luma');
        const mcusX = Math.ceil(width / (8 * hMax));
        const mcusY = Math.ceil(height / (8 * vMax));
        for (const c of components) {
          c.blocksPerLine = mcusX * c.h;
          c.blocksPerColumn = mcusY * c.v;
          c.usedBlocksPerLine = Math.ceil(Math.ceil((width * c.h) / hMax) / 8);
          c.usedBlocksPerColumn = Math.ceil(Math.ceil((height * c.v) / vMax) / 8);
        }
        frame = { width, height, progressive: marker === JPEG_MARKER.SOF2, components, mcusX, mcusY };
        const blocks = components[0].blocksPerLine * components[0].blocksPerColumn;
        dc = (scratch.dc = grown(scratch.dc, blocks, (n) => new Int32Array(n))).subarray(0, blocks);
        dc.fill(0);
        if (cell < 8) {
          // Finer cells need AC coefficients a progressive JPEG spreads over refinement scans.
          if (frame.progressive) notCovered('progressive, and cells finer than its blocks are wanted');
          const n = perBlock * blocks;
          parts = (scratch.parts = grown(scratch.parts, n, (k) => new Float32Array(k))).subarray(0, n);
        }
        break;
      }
      case JPEG_MARKER.SOS: {
        if (!frame || !dc) notCovered('scan before frame');
        const f = frame!;
        const ns = data[seg];
        const scan: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const id = data[seg + 1 + i * 2];
          const c = f.components.find((x) => x.id === id) ?? notCovered('scan of an unknown component');
          c.dcTable = data[seg + 2 + i * 2] >> 4;
          c.acTable = data[seg + 2 + i * 2] & 15;
          scan.push(c);
        }
        const p = seg + 1 + ns * 2;
        const ss = data[p];
        const se = data[p + 1];
        const ah = data[p + 2] >> 4;
        const al = data[p + 2] & 15;
        const luma = scan.indexOf(f.components[0]);
        // Progressive scans of AC coefficients, or of components other than luma, hold nothing we need.
        const wanted = luma >= 0 && (!f.progressive || ss === 0);
        // Where decoding stopped is where the walk goes on; other scans are stepped over by the walk.
        if (wanted) {
          // Finer cells need the luma table's steps before its scan (DQT comes first in every JPEG seen).
          const lumaSteps = parts ? (steps[f.components[0].tq] ?? notCovered('missing quantisation table')) : null;
          // A sequential JPEG has one scan with luma in it: the units an index points into.
          lumaScans++;
          const decoded = decodeScan(data, end, f, scan, luma, dc!, { se, ah, al }, restartInterval, dcTables, acTables, {
            parts,
            cell,
            steps: lumaSteps,
            record: index && !f.progressive,
            from: f.progressive ? null : (from ?? null),
          });
          segment.scanEnd = decoded.end;
          if (decoded.index) scanIndex = { ...decoded.index, dc: Int32Array.from(dc!) };
        }
        break;
      }
      default:
        // The other frame types: lossless, hierarchical or arithmetic-coded.
        if (isFrameMarker(marker)) notCovered('lossless, hierarchical or arithmetic-coded');
        break; // APPn, COM and the like
    }
  }

  if (!frame || !dc) return notCovered('no frame');
  if (lumaScans !== 1) scanIndex = undefined;
  const y = frame.components[0];
  const dcStep = steps[y.tq]?.[0] ?? notCovered('missing quantisation table');
  const perLine = y.blocksPerLine;
  const cols = Math.ceil(frame.width / cell);
  const rows = Math.ceil(frame.height / cell);
  const count = cols * rows;
  const means = reuse
    ? (scratch.means = grown(scratch.means, count, (n) => new Float32Array(n))).subarray(0, count)
    : new Float32Array(count);
  const clamp = (m: number) => (m < 0 ? 0 : m > 255 ? 255 : m);
  if (parts) {
    // Cell (cx, cy) of block (cx / m, cy / m) sits at index m * m * block + m * (cy % m) + cx % m.
    const m = 8 / cell;
    for (let cy = 0; cy < rows; cy++) {
      // Along the row, block by block: each block's m cells of this row sit together.
      const to = cy * cols;
      let at = perBlock * Math.floor(cy / m) * perLine + m * (cy % m);
      for (let cx = 0; cx < cols; at += perBlock)
        for (let i = 0; i < m && cx < cols; i++, cx++) means[to + cx] = clamp(parts[at + i] + 128);
    }
  } else {
    const step = dcStep / 8;
    for (let by = 0; by < rows; by++)
      for (let bx = 0, at = by * perLine, to = by * cols; bx < cols; bx++) means[to + bx] = clamp(dc[at + bx] * step + 128);
  }
  return { width: frame.width, height: frame.height, cell, cols, rows, means, ...(scanIndex ? { index: scanIndex } : {}) };
}

/** Zigzag position to natural (row-major) position in an 8x8 block. */
const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42,
  49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);
/**
 * Per frequency u (rows) and cell i of an axis cut into cells of `cell` pixels (columns, 8 / cell of
 * them), u's weight in the cell's mean: C(u)/2 times the mean of cos((2x+1)u pi/16) over the cell's
 * pixels; C(0) = 1/sqrt(2), else 1. Over quarters the even frequencies but 0 weigh nothing, over pairs
 * frequency 4: their coefficients are not needed.
 */
function cellWeights(cell: LumaCellSide): Float64Array {
  const m = 8 / cell;
  const w = new Float64Array(8 * m);
  for (let u = 0; u < 8; u++)
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let x = i * cell; x < (i + 1) * cell; x++) sum += Math.cos(((2 * x + 1) * u * Math.PI) / 16);
      const v = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * (sum / cell);
      w[u * m + i] = Math.abs(v) < 1e-12 ? 0 : v; // a cosine's exact zero, less rounding
    }
  return w;
}

const CELL_WEIGHTS = { 4: cellWeights(4), 2: cellWeights(2) } as const;

/** Per zigzag position (padded past 63 with zeros for lookups that step past the block): needed for cells of that side. */
const CELL_NEEDED = {
  4: neededCoefficients(4),
  2: neededCoefficients(2),
} as const;

function neededCoefficients(cell: 4 | 2): Uint8Array {
  const w = CELL_WEIGHTS[cell];
  const m = 8 / cell;
  const counts = (u: number) => w.subarray(u * m, (u + 1) * m).some((x) => x !== 0);
  const needed = new Uint8Array(256);
  for (let k = 1; k < 64; k++) needed[k] = counts(ZIGZAG[k] >> 3) && counts(ZIGZAG[k] & 7) ? 1 : 0;
  return needed;
}

/**
 * Per zigzag position k, what one unit of its coefficient adds to the means (less 128) of a block's
 * (8 / cell)^2 cells, row-major, under quantisation steps `steps`: the cells are then sums of products
 * over the block's non-zero coefficients, with no inverse DCT.
 */
function cellContributions(steps: Float64Array, cell: 4 | 2): Float64Array {
  const w = CELL_WEIGHTS[cell];
  const m = 8 / cell;
  const out = new Float64Array(m * m * 64);
  for (let k = 0; k < 64; k++) {
    const v = ZIGZAG[k] >> 3;
    const u = ZIGZAG[k] & 7;
    for (let j = 0; j < m; j++) for (let i = 0; i < m; i++) out[m * m * k + j * m + i] = steps[k] * w[u * m + i] * w[v * m + j];
  }
  return out;
}

// Scratch memory reused from photo to photo: a 12-megapixel JPEG would otherwise leave megabytes of
// short-lived large arrays to the garbage collector on every call. Safe because a call never yields.
const scratch = {
  bytes: new Uint8Array(0),
  dc: new Int32Array(0),
  parts: new Float32Array(0),
  means: new Float32Array(0),
};

/** `have` if it holds `size` values, else a new array at least twice as long. */
function grown<T extends { length: number }>(have: T, size: number, make: (n: number) => T): T {
  return have.length >= size ? have : make(Math.max(size, have.length * 2));
}

/**
 * A scan's entropy-coded data without byte stuffing (0xFF00 back to 0xFF), cut at its restart markers:
 * the decoding loop then reads plain bytes. Zero bytes pad the end so a damaged scan that reads too
 * far stays in bounds; reading them is caught afterwards.
 */
function unstuff(data: Uint8Array, start: number): { buf: Uint8Array; length: number; restarts: number[]; end: number } {
  const PAD = 64;
  const buf = (scratch.bytes = grown(scratch.bytes, data.length - start + PAD, (n) => new Uint8Array(n)));
  const restarts: number[] = [];
  let n = 0;
  for (let i = start; ;) {
    const j = data.indexOf(0xff, i);
    if (j < 0 || j + 1 >= data.length) return notCovered('no end of image');
    buf.set(data.subarray(i, j), n);
    n += j - i;
    const m = data[j + 1];
    if (m === 0x00) {
      buf[n++] = 0xff;
      i = j + 2;
    } else if (m >= 0xd0 && m <= 0xd7) {
      restarts.push(n);
      i = j + 2;
    } else if (m === 0xff)
      i = j + 1; // a fill byte before a marker
    else {
      buf.fill(0, n, n + PAD);
      return { buf, length: n, restarts, end: j };
    }
  }
}

/**
 * One scan holding luma DC: its DC values (or their refinement bits) into `dc`; returns the position
 * of the marker after it. The hottest code of the reader, so the bit stream lives in local variables
 * and its refill is written out where it is needed rather than called.
 */
function decodeScan(
  data: Uint8Array,
  start: number,
  f: { progressive: boolean; components: Component[]; mcusX: number; mcusY: number },
  scan: Component[],
  luma: number,
  dc: Int32Array,
  { se, ah, al }: { se: number; ah: number; al: number },
  restartInterval: number,
  dcTables: HuffmanTable[],
  acTables: HuffmanTable[],
  {
    parts,
    cell,
    steps,
    record,
    from,
  }: {
    parts: Float32Array | null;
    cell: LumaCellSide;
    steps: Float64Array | null;
    /** Note where each unit starts, and the units with AC coefficients (`JpegScanIndex`). */
    record: boolean;
    /** Decode only the units `from` holds AC coefficients in (a sequential scan's finer cells). */
    from: JpegScanIndex | null;
  },
): { end: number; index?: Omit<JpegScanIndex, 'dc'> } {
  const { buf, length, restarts, end } = unstuff(data, start);
  // Finer cells: each luma block's non-zero needed coefficients are noted as they are decoded, then
  // summed into its cells (a few per block at catalogue qualities, so no block of 64 to clear).
  const fine = parts != null && steps != null && !f.progressive && cell !== 8 ? cell : null;
  const contribution = fine != null ? cellContributions(steps!, fine) : null;
  const neededHere = fine != null ? CELL_NEEDED[fine] : null;
  const perBlock = fine != null ? (8 / fine) ** 2 : 0;
  const noteAt = new Int32Array(64);
  const noteValue = new Float64Array(64);
  const sums = new Float64Array(16);
  let notes = 0;
  const y = f.components[0];
  const refine = f.progressive && ah !== 0;
  // Sequential scans carry the AC coefficients too; they are decoded only to be stepped over.
  const withAc = !f.progressive && se > 0;
  const single = scan.length === 1;

  // The blocks of one unit (an MCU, or one block in a single-component scan), in coding order.
  const unitComponent: number[] = [];
  const unitLumaOffset: number[] = [];
  for (let ci = 0; ci < scan.length; ci++) {
    const c = scan[ci];
    const [hs, vs] = single ? [1, 1] : [c.h, c.v];
    for (let v = 0; v < vs; v++)
      for (let h = 0; h < hs; h++) {
        unitComponent.push(ci);
        unitLumaOffset.push(ci === luma ? v * y.blocksPerLine + h : -1);
      }
  }
  const dcT = scan.map((c) => dcTables[c.dcTable] ?? (refine ? EMPTY_TABLE : notCovered('missing DC table')));
  const acT = scan.map((c) => (withAc ? (acTables[c.acTable] ?? notCovered('missing AC table')) : EMPTY_TABLE));
  const pred = new Int32Array(scan.length);
  const unitsPerLine = single ? scan[0].usedBlocksPerLine : f.mcusX;
  const units = single ? unitsPerLine * scan[0].usedBlocksPerColumn : f.mcusX * f.mcusY;
  const [unitW, unitH] = single ? [1, 1] : [y.h, y.v];
  const starts = record ? new Int32Array(units) : null;
  const preds = record ? new Int32Array(units) : null;
  let [acX0, acX1, acY0, acY1] = [unitsPerLine, -1, units, -1];
  // An earlier read's index of this very scan: every block starts as flat (its cells its mean), then
  // only the units holding AC coefficients are decoded, each row of them from where it starts.
  const region =
    from != null &&
    fine != null &&
    from.starts.length === units &&
    from.unitsPerLine === unitsPerLine &&
    from.dc.length === dc.length
      ? from
      : null;
  if (region) {
    const base = contribution![0];
    dc.set(region.dc);
    for (let b = 0, to = 0; b < dc.length; b++) {
      const mean = dc[b] * base;
      for (let q = 0; q < perBlock; q++) parts![to++] = mean;
    }
  }

  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let u = 0; u < units; u++) {
    if (region) {
      const col = u % unitsPerLine;
      const row = (u - col) / unitsPerLine;
      if (row < region.y0 || row > region.y1 || col < region.x0 || col > region.x1) continue;
      if (col === region.x0) {
        const at = region.starts[u];
        pos = at >> 3;
        acc = buf[pos++];
        bits = 8 - (at & 7);
        pred[luma] = region.preds[u];
      }
    }
    if (restartInterval && u > 0 && u % restartInterval === 0) {
      const r = u / restartInterval - 1;
      if (r >= restarts.length || pos * 8 - bits > restarts[r] * 8) notCovered('damaged restart interval');
      pos = restarts[r];
      acc = 0;
      bits = 0;
      pred.fill(0);
    }
    const origin = Math.floor(u / unitsPerLine) * unitH * y.blocksPerLine + (u % unitsPerLine) * unitW;
    if (starts) {
      starts[u] = pos * 8 - bits;
      preds![u] = pred[luma];
    }
    // Whether a luma block of this unit has a non-zero AC coefficient (their magnitude sizes, or-ed).
    let acSizes = 0;
    for (let b = 0; b < unitComponent.length; b++) {
      const ci = unitComponent[b];
      const lumaAt = unitLumaOffset[b];
      if (bits < 16) {
        acc = (acc << 16) | (buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        bits += 16;
      }
      if (refine) {
        bits -= 1;
        if (lumaAt >= 0) dc[origin + lumaAt] |= ((acc >>> bits) & 1) << al;
      } else {
        const t = dcT[ci];
        let s: number;
        const e = t.fast[(acc >>> (bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
        if (e) {
          bits -= (e >> 8) & 0xff;
          s = e & 0xff;
        } else s = slowSymbol(t, acc, bits);
        if (s >= 0x100) {
          bits -= s >> 8;
          s &= 0xff;
        }
        if (s > 16) notCovered('bad DC value');
        if (s) {
          while (bits < s) {
            acc = (acc << 8) | buf[pos++];
            bits += 8;
          }
          bits -= s;
          const v = (acc >>> bits) & ((1 << s) - 1);
          pred[ci] += v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
        }
        if (lumaAt >= 0) dc[origin + lumaAt] = pred[ci] << al;
      }
      const needed = lumaAt >= 0 ? neededHere : null;
      if (withAc) {
        const t = acT[ci];
        const skip = t.skip;
        const sizes = t.sizes;
        for (let k = 1; k < 64;) {
          if (bits < 16) {
            acc = (acc << 16) | (buf[pos] << 8) | buf[pos + 1];
            pos += 2;
            bits += 16;
          }
          const look = (acc >>> (bits - SKIP_BITS)) & ((1 << SKIP_BITS) - 1);
          const e = skip[look];
          if (e) {
            const step1 = e & 0xff;
            if (lumaAt >= 0) acSizes |= sizes[look];
            if (needed != null) {
              // The needed coefficients among the one or two stepped over: each value is the last
              // `size` bits of what its code and magnitude take.
              const sz = sizes[look];
              const s1 = sz & 15;
              const p1 = k + step1 - 1;
              if (s1 && needed[p1]) {
                const v = (acc >>> (bits - ((e >> 16) & 0xf))) & ((1 << s1) - 1);
                noteAt[notes] = p1;
                noteValue[notes++] = v < 1 << (s1 - 1) ? v - (1 << s1) + 1 : v;
              }
              const s2 = sz >> 4;
              const p2 = k + ((e >> 8) & 0xff) - 1;
              if (s2 && k + step1 < 64 && needed[p2]) {
                const v = (acc >>> (bits - (e >>> 20))) & ((1 << s2) - 1);
                noteAt[notes] = p2;
                noteValue[notes++] = v < 1 << (s2 - 1) ? v - (1 << s2) + 1 : v;
              }
            }
            if (k + step1 < 64) {
              bits -= e >>> 20;
              k += (e >> 8) & 0xff;
            } else {
              bits -= (e >> 16) & 0xf;
              k += step1;
            }
            continue;
          }
          let rs: number;
          const f9 = t.fast[(acc >>> (bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
          if (f9) {
            bits -= (f9 >> 8) & 0xff;
            rs = f9 & 0xff;
          } else {
            rs = slowSymbol(t, acc, bits);
            bits -= rs >> 8;
            rs &= 0xff;
          }
          const size = rs & 15;
          if (lumaAt >= 0) acSizes |= size;
          if (size === 0) {
            if (rs !== 0xf0) break;
            k += 16;
          } else {
            k += rs >> 4;
            while (bits < size) {
              acc = (acc << 8) | buf[pos++];
              bits += 8;
            }
            bits -= size;
            if (needed != null && needed[k]) {
              const v = (acc >>> bits) & ((1 << size) - 1);
              noteAt[notes] = k;
              noteValue[notes++] = v < 1 << (size - 1) ? v - (1 << size) + 1 : v;
            }
            k++;
          }
        }
      }
      if (needed != null) {
        // The DC coefficient counts the same in every cell: the block's mean. Quarters (the common
        // case) are summed in locals, written out rather than looped, to stay in registers.
        const base = dc[origin + lumaAt] * contribution![0];
        const to = perBlock * (origin + lumaAt);
        if (perBlock === 4) {
          let tl = base;
          let tr = base;
          let bl = base;
          let br = base;
          for (let j = 0; j < notes; j++) {
            const at = 4 * noteAt[j];
            const c = noteValue[j];
            tl += c * contribution![at];
            tr += c * contribution![at + 1];
            bl += c * contribution![at + 2];
            br += c * contribution![at + 3];
          }
          parts![to] = tl;
          parts![to + 1] = tr;
          parts![to + 2] = bl;
          parts![to + 3] = br;
        } else {
          for (let q = 0; q < perBlock; q++) sums[q] = base;
          for (let j = 0; j < notes; j++) {
            const at = perBlock * noteAt[j];
            const c = noteValue[j];
            for (let q = 0; q < perBlock; q++) sums[q] += c * contribution![at + q];
          }
          for (let q = 0; q < perBlock; q++) parts![to + q] = sums[q];
        }
        notes = 0;
      }
    }
    if (starts && acSizes) {
      const col = u % unitsPerLine;
      const row = (u - col) / unitsPerLine;
      if (col < acX0) acX0 = col;
      if (col > acX1) acX1 = col;
      if (row < acY0) acY0 = row;
      if (row > acY1) acY1 = row;
    }
  }
  if (pos * 8 - bits > length * 8) notCovered('truncated scan');
  return { end, ...(starts ? { index: { starts, preds: preds!, unitsPerLine, x0: acX0, x1: acX1, y0: acY0, y1: acY1 } } : {}) };
}

/** A code longer than the fast table's: (length << 8) | symbol. Needs at least 16 bits in `acc`. */
function slowSymbol(t: HuffmanTable, acc: number, bits: number): number {
  for (let len = FAST_BITS + 1; len <= 16; len++) {
    const code = (acc >>> (bits - len)) & ((1 << len) - 1);
    if (code <= t.maxCode[len]) return (len << 8) | t.values[t.valPtr[len] + code];
  }
  return notCovered('bad Huffman code');
}

/**
 * Side (in pixels) from which a JPEG is read in the DCT domain for an input of `size`: 512, where each
 * pixel of a 64 input spans at least one block, and for larger inputs 4 pixels per input pixel, where
 * each spans at least one quarter of a block. (Decoding 512-1023 px JPEGs in full for a 128 input cost
 * the Worker 34 ms a check against 11 on a 1000x1000 JPEG.)
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
 * the whole blocks' read's index (`JpegScanIndex`; a 12 MP product shot's quarters for a closer look at
 * 256: 12.5 against 18.6-19.3 ms in Node). The answer's `blockRead` (its frames and that index, or for a
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
  // them again (a 12 MP photo's closer look at 256: 8 of its 28 ms in Node).
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
