/** Reading a JPEG's headers and its luma scan into cell means: the reader's entry points. */
import { JPEG_MARKER, JpegStructureError, isFrameMarker, jpegSegments, type JpegSegment } from '../jpeg-segments.js';
import { buildHuffman, type HuffmanTable } from './huffman.js';
import { decodeScan } from './scan.js';
import { grown, scratch } from './scratch.js';
import {
  NotCovered,
  notCovered,
  type Component,
  type JpegBlockMeans,
  type JpegLumaCells,
  type JpegScanIndex,
  type LumaCellSide,
} from './types.js';

/** Block means of the JPEG's luma, or null when it is not one this reader covers (decode it in full). */
export function jpegLumaBlockMeans(data: Uint8Array): JpegBlockMeans | null {
  const cells = readOrNull(data, { reuse: false });
  return cells && { ...cells, blocksWide: cells.cols, blocksHigh: cells.rows };
}

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

export interface ReadOptions {
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

export function readOrNull(data: Uint8Array, options: ReadOptions): (JpegLumaCells & { index?: JpegScanIndex }) | null {
  try {
    return readLumaCells(data, options);
  } catch (e) {
    if (e instanceof NotCovered || e instanceof JpegStructureError || e instanceof RangeError) return null;
    throw e;
  }
}

/** The frame header's facts the scan and the means need. */
interface Frame {
  width: number;
  height: number;
  progressive: boolean;
  components: Component[];
  mcusX: number;
  mcusY: number;
}

/** What the headers said so far, and the luma read from the scan. */
interface ReadState {
  readonly data: Uint8Array;
  readonly options: ReadOptions;
  readonly cell: LumaCellSide;
  /** Each table's steps in zigzag order, as DQT holds them. */
  readonly steps: (Float64Array | undefined)[];
  readonly dcTables: HuffmanTable[];
  readonly acTables: HuffmanTable[];
  frame: Frame | null;
  dc: Int32Array | null;
  /** Per luma block, its finer cells' means less 128, row-major within the block. */
  parts: Float32Array | null;
  restartInterval: number;
  adobeTransform: number;
  scanIndex: JpegScanIndex | undefined;
  lumaScans: number;
}

function u16(data: Uint8Array, at: number): number {
  if (at + 1 >= data.length) notCovered('truncated header');
  return (data[at] << 8) | data[at + 1];
}

function readLumaCells(data: Uint8Array, options: ReadOptions): JpegLumaCells & { index?: JpegScanIndex } {
  const state: ReadState = {
    data,
    options,
    cell: options.cell ?? 8,
    steps: [],
    dcTables: [],
    acTables: [],
    frame: null,
    dc: null,
    parts: null,
    restartInterval: 0,
    adobeTransform: -1,
    scanIndex: undefined,
    lumaScans: 0,
  };
  for (const segment of jpegSegments(data)) {
    if (segment.marker === JPEG_MARKER.EOI) break;
    readSegment(state, segment);
  }
  return cellMeans(state);
}

function readSegment(state: ReadState, segment: JpegSegment): void {
  const { data } = state;
  const { marker, end } = segment;
  const seg = segment.payload;
  switch (marker) {
    case JPEG_MARKER.DQT:
      readQuantisationTables(state, seg, end);
      break;
    case JPEG_MARKER.DHT:
      readHuffmanTables(state, seg, end);
      break;
    case JPEG_MARKER.DRI:
      state.restartInterval = u16(data, seg);
      break;
    case JPEG_MARKER.APP14:
      // Adobe APP14: transform 0 on three components means RGB, not YCbCr.
      if (end - segment.start - 2 >= 14 && String.fromCharCode(...data.subarray(seg, seg + 5)) === 'Adobe')
        state.adobeTransform = data[seg + 11];
      break;
    case JPEG_MARKER.SOF0:
    case JPEG_MARKER.SOF1:
    case JPEG_MARKER.SOF2:
      readFrame(state, seg, marker === JPEG_MARKER.SOF2);
      break;
    case JPEG_MARKER.SOS:
      readScan(state, segment);
      break;
    default:
      // The other frame types: lossless, hierarchical or arithmetic-coded.
      if (isFrameMarker(marker)) notCovered('lossless, hierarchical or arithmetic-coded');
      break; // APPn, COM and the like
  }
}

function readQuantisationTables({ data, steps }: ReadState, seg: number, end: number): void {
  for (let p = seg; p < end;) {
    const pq = data[p] >> 4;
    const tq = data[p] & 15;
    if (tq > 3) notCovered('bad quantisation table');
    const table = new Float64Array(64);
    for (let k = 0; k < 64; k++) table[k] = pq ? u16(data, p + 1 + 2 * k) : data[p + 1 + k];
    steps[tq] = table;
    p += 1 + (pq ? 128 : 64);
  }
}

function readHuffmanTables({ data, dcTables, acTables }: ReadState, seg: number, end: number): void {
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
}

/** The frame header: size, components and their sampling; refuses what the reader does not cover. */
function readFrame(state: ReadState, seg: number, progressive: boolean): void {
  const { data, cell } = state;
  if (state.frame) notCovered('two frames');
  if (data[seg] !== 8) notCovered('not 8-bit');
  const height = u16(data, seg + 1);
  const width = u16(data, seg + 3);
  const n = data[seg + 5];
  const minSide = state.options.minSide ?? 1;
  if (!width || !height) notCovered('no size in the frame header');
  if (width < minSide || height < minSide) notCovered('too small to be read from block means');
  if (n !== 1 && n !== 3) notCovered('not greyscale or YCbCr');
  if (n === 3 && state.adobeTransform === 0) notCovered('an RGB JPEG');
  const components = readComponents(data, seg + 6, n);
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
  state.frame = { width, height, progressive, components, mcusX, mcusY };
  const blocks = components[0].blocksPerLine * components[0].blocksPerColumn;
  state.dc = (scratch.dc = grown(scratch.dc, blocks, (k) => new Int32Array(k))).subarray(0, blocks);
  state.dc.fill(0);
  if (cell < 8) {
    // Finer cells need AC coefficients a progressive JPEG spreads over refinement scans.
    if (progressive) notCovered('progressive, and cells finer than its blocks are wanted');
    const k = (8 / cell) ** 2 * blocks;
    state.parts = (scratch.parts = grown(scratch.parts, k, (m) => new Float32Array(m))).subarray(0, k);
  }
}

function readComponents(data: Uint8Array, at: number, n: number): Component[] {
  const components: Component[] = [];
  for (let i = 0; i < n; i++) {
    const p = at + i * 3;
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
  if (n === 3 && components[0].id === 0x52 && components[1].id === 0x47 && components[2].id === 0x42) notCovered('an RGB JPEG');
  return components;
}

/** A scan header, and the scan itself where it holds luma DC (or, for finer cells, luma's AC too). */
function readScan(state: ReadState, segment: JpegSegment): void {
  const { data, frame: f, dc, parts } = state;
  if (!f || !dc) return notCovered('scan before frame');
  const seg = segment.payload;
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
  // Where decoding stopped is where the walk goes on; other scans are stepped over by the walk.
  if (luma < 0 || (f.progressive && ss !== 0)) return;
  // Finer cells need the luma table's steps before its scan (DQT comes first in every JPEG seen).
  const lumaSteps = parts ? (state.steps[f.components[0].tq] ?? notCovered('missing quantisation table')) : null;
  // A sequential JPEG has one scan with luma in it: the units an index points into.
  state.lumaScans++;
  const decoded = decodeScan(
    data,
    segment.end,
    f,
    scan,
    luma,
    dc,
    { se, ah, al },
    state.restartInterval,
    state.dcTables,
    state.acTables,
    {
      parts,
      cell: state.cell,
      steps: lumaSteps,
      record: (state.options.index ?? false) && !f.progressive,
      from: f.progressive ? null : (state.options.from ?? null),
    },
  );
  segment.scanEnd = decoded.end;
  if (decoded.index) state.scanIndex = { ...decoded.index, dc: Int32Array.from(dc) };
}

/** The cells' means (0-255) from the DC values, or from the finer cells' parts. */
function cellMeans(state: ReadState): JpegLumaCells & { index?: JpegScanIndex } {
  const { frame, dc, parts, cell } = state;
  if (!frame || !dc) return notCovered('no frame');
  const scanIndex = state.lumaScans === 1 ? state.scanIndex : undefined;
  const y = frame.components[0];
  const dcStep = state.steps[y.tq]?.[0] ?? notCovered('missing quantisation table');
  const perLine = y.blocksPerLine;
  const cols = Math.ceil(frame.width / cell);
  const rows = Math.ceil(frame.height / cell);
  const count = cols * rows;
  const means = state.options.reuse
    ? (scratch.means = grown(scratch.means, count, (n) => new Float32Array(n))).subarray(0, count)
    : new Float32Array(count);
  const clamp = (m: number) => (m < 0 ? 0 : m > 255 ? 255 : m);
  if (parts) {
    // Cell (cx, cy) of block (cx / m, cy / m) sits at index m * m * block + m * (cy % m) + cx % m.
    const m = 8 / cell;
    const perBlock = m * m;
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
