/**
 * From a localiser's heatmap to a box. Each cell holds the share of that cell (a block of model-input
 * pixels) the rectangle covers, so the box edges can be read to a fraction of a cell: partly covered
 * cells at either end say where inside them the edge falls. The API and the widget both call this,
 * so they draw the same box.
 */
import { INPUT_SIZE } from './contract.js';

export interface Heatmap {
  /** Row-major scores in [0,1], height x width cells. */
  data: ArrayLike<number>;
  height: number;
  width: number;
}

/** A `heatmap` output as ONNX Runtime gives it (any of its builds): data with dims [..., H, W]. */
/** `index` picks one image of a batch; without it, the whole data (a batch of one). */
export function heatmapFromTensor(tensor: { data: unknown; dims: readonly number[] }, index?: number): Heatmap {
  const height = tensor.dims[tensor.dims.length - 2];
  const width = tensor.dims[tensor.dims.length - 1];
  const all = tensor.data as Float32Array;
  const data = index == null ? all : all.subarray(index * height * width, (index + 1) * height * width);
  return { data, height, width };
}

/** A box in model-input pixels (the 64x64 grid), fractional. */
export interface InputBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Squared error between a coverage profile and the one a box [a, a+size) (in cells) would give. */
function profileError(profile: number[], from: number, to: number, a: number, size: number): number {
  let e = 0;
  for (let i = from; i <= to; i++) {
    const d = profile[i] - Math.max(0, Math.min(i + 1, a + size) - Math.max(i, a));
    e += d * d;
  }
  return e;
}

/**
 * Extent [start, size] along one axis: the box whose coverage profile best fits the cells' (least
 * squares, searched coarse then fine), which is exact for an exact profile and averages out noise.
 */
function extent(profile: number[], from: number, to: number, cell: number): [number, number] {
  const cells = profile.length;
  let best = { a: from, size: 1, e: Infinity };
  // The box stays on the grid: past its end a profile cannot tell sizes apart.
  const search = (a0: number, s0: number, steps: number, step: number) => {
    for (let i = 0; i <= steps; i++) {
      const size = s0 + i * step;
      if (size <= 0) continue;
      for (let j = 0; j <= steps; j++) {
        const a = a0 + j * step;
        if (a < 0 || a + size > cells + 1e-9) continue;
        const e = profileError(profile, from, to, a, size);
        if (e < best.e) best = { a, size, e };
      }
    }
  };
  search(from, 0, Math.round((to - from + 1) / 0.1), 0.1);
  const { a, size } = best;
  search(a - 0.1, size - 0.1, 40, 0.005);
  return [best.a * cell, best.size * cell];
}

/**
 * The box around the heatmap's strongest region: the cells connected to the peak that score at
 * least half of it, read with one cell of margin on each side. Null for an empty heatmap.
 */
export function boxFromHeatmap(heatmap: Heatmap, inputSize = INPUT_SIZE): InputBox | null {
  const { data, height: H, width: W } = heatmap;
  if (H < 1 || W < 1 || data.length < H * W) return null;
  let peak = 0;
  for (let i = 1; i < H * W; i++) if (data[i] > data[peak]) peak = i;
  if (!(data[peak] > 0)) return null;
  const floor = data[peak] / 2;
  // Flood fill from the peak (4-connected).
  const seen = new Uint8Array(H * W);
  const stack = [peak];
  seen[peak] = 1;
  let [r0, r1, c0, c1] = [H, -1, W, -1];
  while (stack.length) {
    const i = stack.pop()!;
    const r = Math.floor(i / W);
    const c = i % W;
    r0 = Math.min(r0, r);
    r1 = Math.max(r1, r);
    c0 = Math.min(c0, c);
    c1 = Math.max(c1, c);
    for (const [dr, dc] of [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ]) {
      const rr = r + dr;
      const cc = c + dc;
      if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
      const j = rr * W + cc;
      if (!seen[j] && data[j] >= floor) {
        seen[j] = 1;
        stack.push(j);
      }
    }
  }
  const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
  // Coverage per column = the most covered cell of that column within the region's rows, and alike per row.
  const cols = Array.from({ length: W }, (_, c) => {
    let m = 0;
    for (let r = r0; r <= r1; r++) m = Math.max(m, clamp01(data[r * W + c]));
    return m;
  });
  const rows = Array.from({ length: H }, (_, r) => {
    let m = 0;
    for (let c = c0; c <= c1; c++) m = Math.max(m, clamp01(data[r * W + c]));
    return m;
  });
  const [x, w] = extent(cols, Math.max(0, c0 - 1), Math.min(W - 1, c1 + 1), inputSize / W);
  const [y, h] = extent(rows, Math.max(0, r0 - 1), Math.min(H - 1, r1 + 1), inputSize / H);
  return { x, y, w, h };
}

/** A model-input box in a photo's own pixels (the input is the whole photo, stretched), whole and inside it. */
export function boxInImage(
  box: InputBox,
  width: number,
  height: number,
  inputSize = INPUT_SIZE,
): { x: number; y: number; width: number; height: number } {
  const sx = width / inputSize;
  const sy = height / inputSize;
  const x0 = Math.min(width, Math.max(0, Math.round(box.x * sx)));
  const y0 = Math.min(height, Math.max(0, Math.round(box.y * sy)));
  const x1 = Math.min(width, Math.max(x0, Math.round((box.x + box.w) * sx)));
  const y1 = Math.min(height, Math.max(y0, Math.round((box.y + box.h) * sy)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Intersection over union of two boxes. */
export function iou(a: InputBox, b: InputBox): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/** The `box` of a CheckResult: where the rectangle is in the photo, for a flagged photo and a localising model. */
export function resultBox(
  heatmap: Heatmap | undefined,
  flagged: boolean,
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number } | null {
  if (!heatmap || !flagged) return null;
  const box = boxFromHeatmap(heatmap);
  return box ? boxInImage(box, width, height) : null;
}
