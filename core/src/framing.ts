/**
 * Where a model looks. `full`: the whole photo stretched to 64x64 (the paper's input). `content`: on a
 * plain light background (a product shot), the square around what stands on it, with a margin; any
 * other photo is taken whole, as under `full`.
 *
 * Why: on a 1200 px canvas a product filling a third of it is 21 input pixels wide, and a white rectangle
 * that erases part of it leaves a straight cut a few input pixels long, which is what the models missed
 * most on independent uploads. Framed, the same cut is two to three
 * times longer. Nothing outside the frame can be damage anyone sees: there the photo is plain
 * background, and a white rectangle on it changes nothing visible (the same rule that labels training).
 */
import type { Box } from './box.js';
import { INPUT_SIZE } from './contract.js';
import type { RgbaImage } from './preprocess.js';
import { WB, WG, WR, preprocess } from './preprocess.js';

export const FRAMINGS = ['full', 'content'] as const;
export type Framing = (typeof FRAMINGS)[number];

/** A square of the photo in its own pixels; it may reach past the photo's edges, where it is `background`. */
export interface Frame {
  x: number;
  y: number;
  side: number;
  /** The plain background's grey level in [0,1], which fills the frame beyond the photo. */
  background: number;
}

/** Side of the coarse grid the frame is found on: 8-16 px cells on uploads, enough to place a margin. */
export const FRAME_GRID = 128;
/** A plain background: its median grey at least this light... */
const BACKGROUND_MIN = 0.9;
/** ...and this share of the border cells within BACKGROUND_SPREAD of it (a studio sweep or a photo is not plain). */
const BACKGROUND_SHARE = 0.9;
const BACKGROUND_SPREAD = 0.03;
/** A cell is content when its mean differs from the background by this much (15/255). */
const CONTENT_DIFF = 0.06;
/** The frame: the content's bounding square grown by this factor (a margin of 12.5% each side)... */
const FRAME_MARGIN = 1.25;
/** ...at least this share of the photo's longer side, so a speck is not blown up to fill the input. */
const FRAME_MIN_SHARE = 0.3;

/**
 * A luma source the area average reads: `cols` x `rows` cells of `cell` pixels (1 for pixels, 8 for
 * JPEG blocks; the last row and column cut at `width`/`height`), one row at a time into `into`.
 */
export interface LumaCells {
  width: number;
  height: number;
  cell: number;
  cols: number;
  rows: number;
  readRow(row: number, into: Float32Array): void;
}

/** Decoded RGBA as luma cells (alpha composed on white, as `preprocess` does). */
export function rgbaCells(image: RgbaImage): LumaCells {
  const { width, height, data } = image;
  return {
    width,
    height,
    cell: 1,
    cols: width,
    rows: height,
    readRow(y, into) {
      for (let x = 0, p = y * width * 4; x < width; x++, p += 4) {
        const a = data[p + 3];
        const v = WR * data[p] + WG * data[p + 1] + WB * data[p + 2];
        into[x] = a === 255 ? v : (v * a) / 255 + (255 - a) / 255;
      }
    },
  };
}

interface SpanWeights {
  /** CSR by source cell: the weights of cell s are start[s]..start[s+1]. */
  start: Int32Array;
  dst: Int32Array;
  weight: Float64Array;
  /** The share of each output pixel's span that lies inside the photo. */
  cover: Float64Array;
  first: number;
  last: number;
}

/**
 * Weights of the source cells for `out` output pixels spanning [from, from+span) of an axis of `size`
 * pixels. Built cell by cell (each cell's outputs are a run of consecutive pixels), straight into
 * CSR order: no list to sort, which on 4-pixel JPEG quarters cost more than the averaging itself.
 */
function spanWeights(size: number, cell: number, from: number, span: number, out: number): SpanWeights {
  const cells = Math.ceil(size / cell);
  const scale = span / out;
  const max = cells + out + 1;
  const start = new Int32Array(cells + 1);
  const dst = new Int32Array(max);
  const weight = new Float64Array(max);
  const cover = new Float64Array(out);
  let count = 0;
  let first = -1;
  let last = -1;
  for (let s = 0; s < cells; s++) {
    start[s] = count;
    const a = s * cell;
    const b = Math.min((s + 1) * cell, size);
    // Output pixels d span [from + d * scale, from + (d + 1) * scale).
    const d0 = Math.max(0, Math.floor((a - from) / scale) - 1); // one early: rounding never skips an overlap
    for (let d = d0; d < out; d++) {
      const lo = from + d * scale;
      if (lo >= b) break;
      const overlap = Math.min(b, lo + scale) - Math.max(a, lo);
      if (overlap > 1e-9) {
        dst[count] = d;
        weight[count++] = overlap / scale;
        cover[d] += overlap / scale;
        if (first < 0) first = s;
        last = s;
      }
    }
  }
  start[cells] = count;
  return { start, dst, weight, cover, first: first < 0 ? 0 : first, last };
}

/**
 * The area average of a rectangle of the photo (in pixels; it may reach past the edges, where it is
 * `fill`) at outW x outH: each output pixel the exact mean of the area it covers. Clamped to [0,1].
 */
export function areaAverage(src: LumaCells, rect: Box, outW: number, outH: number, fill = 1): Float32Array {
  const xw = spanWeights(src.width, src.cell, rect.x, rect.width, outW);
  const yw = spanWeights(src.height, src.cell, rect.y, rect.height, outH);
  const line = new Float32Array(src.cols);
  const row = new Float64Array(outW);
  const out = new Float64Array(outW * outH);
  for (let r = yw.first; r <= yw.last; r++) {
    if (yw.start[r] === yw.start[r + 1]) continue;
    src.readRow(r, line);
    row.fill(0);
    for (let c = xw.first; c <= xw.last; c++) {
      const v = line[c];
      for (let k = xw.start[c]; k < xw.start[c + 1]; k++) row[xw.dst[k]] += v * xw.weight[k];
    }
    for (let k = yw.start[r]; k < yw.start[r + 1]; k++) {
      const d = yw.dst[k] * outW;
      const w = yw.weight[k];
      for (let x = 0; x < outW; x++) out[d + x] += row[x] * w;
    }
  }
  const result = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = out[y * outW + x] + (1 - yw.cover[y] * xw.cover[x]) * fill;
      result[y * outW + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return result;
}

/**
 * Content cells are grown by this many grid cells every way, and what then touches is one object:
 * content more than 7 cells apart (about 60-125 px on 1000-2000 px uploads) is another. A product shot of two
 * or three things is checked through each one's own frame.
 */
const OBJECT_GAP = 3;
/** An object holds at least this many content cells (a speck, a stray shadow or a logo dot does not)... */
const OBJECT_MIN_CELLS = 20;
/** ...and a shot of more objects than this (a set, a collection) is framed whole. */
const OBJECT_MAX = 3;

/** A photo's frames under `content` framing: the whole content's, and each object's where it falls apart into a few. */
export interface Frames {
  /** The square around all the content; null: take the whole photo (see findFrame). */
  frame: Frame | null;
  /**
   * When the content is two or three separate objects, each one's frame (the same rule on its content
   * alone), largest first; empty otherwise. The model is trained on one frame around all the content,
   * but it misses much more there when there are several objects (each is smaller in the input and the
   * white between them is large), and looking at each object's frame catches more (docs/experiments.md).
   */
  objects: Frame[];
}

/** The frame around content spanning grid cells [c0, c1] x [r0, r1], or null when it would be the whole photo. */
function frameAround(
  c0: number,
  c1: number,
  r0: number,
  r1: number,
  width: number,
  height: number,
  background: number,
): Frame | null {
  const sx = width / FRAME_GRID;
  const sy = height / FRAME_GRID;
  const longer = Math.max(width, height);
  const side = Math.round(Math.max(FRAME_MARGIN * Math.max((c1 + 1 - c0) * sx, (r1 + 1 - r0) * sy), FRAME_MIN_SHARE * longer));
  if (side >= longer) return null;
  const cx = ((c0 + c1 + 1) / 2) * sx;
  const cy = ((r0 + r1 + 1) / 2) * sy;
  return { x: Math.round(cx - side / 2), y: Math.round(cy - side / 2), side, background };
}

/**
 * Content cells grouped into objects: each content cell grown by OBJECT_GAP cells every way (a square),
 * and the grown cells that touch are one object; its bounds are those of its content cells.
 */
function objectBounds(content: Uint8Array): Array<{ c0: number; c1: number; r0: number; r1: number; cells: number }> {
  const g = FRAME_GRID;
  // Grown along rows, then along columns: a square, in two passes over the grid.
  const rows = new Uint8Array(g * g);
  const grown = new Uint8Array(g * g);
  for (let r = 0; r < g; r++)
    for (let c = 0; c < g; c++)
      if (content[r * g + c]) rows.fill(1, r * g + Math.max(0, c - OBJECT_GAP), r * g + Math.min(g, c + OBJECT_GAP + 1));
  for (let r = 0; r < g; r++)
    for (let c = 0; c < g; c++)
      if (rows[r * g + c])
        for (let rr = Math.max(0, r - OBJECT_GAP); rr <= Math.min(g - 1, r + OBJECT_GAP); rr++) grown[rr * g + c] = 1;
  const seen = new Uint8Array(g * g);
  const objects: Array<{ c0: number; c1: number; r0: number; r1: number; cells: number }> = [];
  for (let start = 0; start < g * g; start++) {
    if (!grown[start] || seen[start]) continue;
    const o = { c0: g, c1: -1, r0: g, r1: -1, cells: 0 };
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const at = stack.pop()!;
      const [r, c] = [Math.floor(at / g), at % g];
      if (content[at])
        [o.c0, o.c1, o.r0, o.r1, o.cells] = [
          Math.min(o.c0, c),
          Math.max(o.c1, c),
          Math.min(o.r0, r),
          Math.max(o.r1, r),
          o.cells + 1,
        ];
      for (const k of [c > 0 ? at - 1 : -1, c < g - 1 ? at + 1 : -1, at - g, at + g])
        if (k >= 0 && k < g * g && grown[k] && !seen[k]) {
          seen[k] = 1;
          stack.push(k);
        }
    }
    objects.push(o);
  }
  return objects;
}

/**
 * The frames of a photo under `content` framing, found on its FRAME_GRID x FRAME_GRID area average:
 * no frame when the photo has no plain light background (natural photos, studio sweeps), nothing on
 * it, or content that fills so much of it that the frame would be the photo.
 */
export function findFrames(grid: Float32Array, width: number, height: number): Frames {
  const g = FRAME_GRID;
  const none: Frames = { frame: null, objects: [] };
  const border: number[] = [];
  for (let i = 0; i < g; i++) border.push(grid[i], grid[(g - 1) * g + i]);
  for (let i = 1; i < g - 1; i++) border.push(grid[i * g], grid[i * g + g - 1]);
  const sorted = Float32Array.from(border).sort();
  const background = sorted[sorted.length >> 1];
  if (background < BACKGROUND_MIN) return none;
  const plain = border.filter((v) => Math.abs(v - background) <= BACKGROUND_SPREAD).length;
  if (plain < BACKGROUND_SHARE * border.length) return none;
  const content = new Uint8Array(g * g);
  let [c0, c1, r0, r1] = [g, -1, g, -1];
  for (let r = 0; r < g; r++) {
    for (let c = 0; c < g; c++) {
      if (Math.abs(grid[r * g + c] - background) > CONTENT_DIFF) {
        content[r * g + c] = 1;
        [c0, c1, r0, r1] = [Math.min(c0, c), Math.max(c1, c), Math.min(r0, r), Math.max(r1, r)];
      }
    }
  }
  if (c1 < 0) return none;
  const frame = frameAround(c0, c1, r0, r1, width, height, background);
  if (!frame) return none;
  const objects = objectBounds(content)
    .filter((o) => o.cells >= OBJECT_MIN_CELLS)
    .sort((a, b) => b.cells - a.cells);
  if (objects.length < 2 || objects.length > OBJECT_MAX) return { frame, objects: [] };
  const frames = objects.map((o) => frameAround(o.c0, o.c1, o.r0, o.r1, width, height, background));
  // An object as large as the photo: the whole frame shows it as well as any.
  return { frame, objects: frames.every((f) => f !== null) ? (frames as Frame[]) : [] };
}

/** The frame around all of a photo's content (see findFrames), or null: the whole photo. */
export function findFrame(grid: Float32Array, width: number, height: number): Frame | null {
  return findFrames(grid, width, height).frame;
}

/** The frames of a luma source (see findFrames). */
export function framesOf(src: LumaCells): Frames {
  const grid = areaAverage(src, { x: 0, y: 0, width: src.width, height: src.height }, FRAME_GRID, FRAME_GRID);
  return findFrames(grid, src.width, src.height);
}

/** The model input of a frame: its area average at size x size, the background beyond the photo. */
export function frameToInput(src: LumaCells, frame: Frame, size = INPUT_SIZE): Float32Array {
  return areaAverage(src, { x: frame.x, y: frame.y, width: frame.side, height: frame.side }, size, size, frame.background);
}

/**
 * The model input of decoded pixels under a framing, and the frame it shows (null: the whole photo).
 * `full` is exactly `preprocess`.
 */
export function preprocessFramed(
  image: RgbaImage,
  framing: Framing = 'full',
  size = INPUT_SIZE,
): { input: Float32Array; frame: Frame | null } {
  const { input, frame } = framedInputs(image, framing, size, false);
  return { input, frame };
}

/** One look at a photo: a model input and the frame it shows. */
export interface FramedLook {
  input: Float32Array;
  frame: Frame;
}

/** A photo's model input under a framing: the photo's size, the frame the input shows, and each object's look. */
export interface FramedInput {
  input: Float32Array;
  width: number;
  height: number;
  frame: Frame | null;
  objects: FramedLook[];
}

/**
 * What a check looks at: the input `preprocessFramed` makes and, where the content is a few separate
 * objects (`findFrames`), each object's own input (`withObjects`; training makes only the first).
 * `found`: the frames an earlier look at the same pixels found (they do not depend on the input's side;
 * finding them is most of the work of framing a photo).
 */
export function framedInputs(
  image: RgbaImage,
  framing: Framing = 'full',
  size = INPUT_SIZE,
  withObjects = true,
  found?: Frames,
): Omit<FramedInput, 'width' | 'height'> {
  if (framing === 'full') return { input: preprocess(image, size), frame: null, objects: [] };
  const cells = rgbaCells(image);
  const { frame, objects } = found ?? framesOf(cells);
  if (!frame) return { input: preprocess(image, size), frame: null, objects: [] };
  const looks = withObjects ? objects.map((f) => ({ input: frameToInput(cells, f, size), frame: f })) : [];
  return { input: frameToInput(cells, frame, size), frame, objects: looks };
}

/** A box in model-input pixels to the photo's pixels, through the frame when there is one. */
export function inputBoxToPhoto(box: Box, frame: Frame | null, width: number, height: number, size = INPUT_SIZE): Box {
  const sx = (frame ? frame.side : width) / size;
  const sy = (frame ? frame.side : height) / size;
  return { x: (frame?.x ?? 0) + box.x * sx, y: (frame?.y ?? 0) + box.y * sy, width: box.width * sx, height: box.height * sy };
}

/** A box in the photo's pixels to model-input pixels (the training labels' direction), clipped to the input. */
export function photoBoxToInput(box: Box, frame: Frame | null, width: number, height: number, size = INPUT_SIZE): Box | null {
  const sx = size / (frame ? frame.side : width);
  const sy = size / (frame ? frame.side : height);
  const clip = (v: number) => Math.min(size, Math.max(0, v));
  const x0 = clip((box.x - (frame?.x ?? 0)) * sx);
  const y0 = clip((box.y - (frame?.y ?? 0)) * sy);
  const x1 = clip((box.x + box.width - (frame?.x ?? 0)) * sx);
  const y1 = clip((box.y + box.height - (frame?.y ?? 0)) * sy);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}
