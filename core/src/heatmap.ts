/**
 * From a localiser's heatmap to a box. Each cell holds the share of that cell (a block of model-input
 * pixels) the rectangle covers, so the box edges can be read to a fraction of a cell: partly covered
 * cells at either end say where inside them the edge falls; the input itself then places the edges
 * to the pixel (`snapBoxToInput`). The API and the widget both call this, so they draw the same box.
 */
import { INPUT_SIZE } from './contract.js';
import { inputBoxToPhoto, type Frame, type Framing } from './framing.js';
import type { Box } from './box.js';

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

/** The heatmap of image `index` of a batch's heatmap (its [N,H,W] cells). */
export function heatmapOf(batch: Heatmap, index: number): Heatmap {
  const cells = batch.height * batch.width;
  const data = batch.data as Float32Array;
  return { height: batch.height, width: batch.width, data: data.subarray(index * cells, (index + 1) * cells) };
}

/** A box in model-input pixels (the 64x64 grid), fractional. */

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
export function boxFromHeatmap(
  heatmap: Heatmap,
  input?: ArrayLike<number>,
  inputSize = INPUT_SIZE,
  sides?: RectangleSides,
  /** The input is a frame inside a larger photo, so a box may reach past it (see `snapBoxToInput`). */
  framed = false,
): Box | null {
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
  const box = { x, y, width: w, height: h };
  return input && input.length === inputSize * inputSize ? snapBoxToInput(box, input, inputSize, sides, framed) : box;
}

/**
 * The side a rectangle has where one of its edges cannot be seen (it runs into a white background),
 * under full framing: a quarter of the input, the side under both training protocols (16 of 64 under
 * `paper`; 20-30% of the photo's side under `realistic`).
 */
export const TYPICAL_RECTANGLE_SIDE = INPUT_SIZE / 4;

/**
 * The sides of the damage on uploads, as shares of the photo's side along each axis: 15-30% (the
 * rectangles sellers are to be warned of). Where an edge runs into white, the box takes the side in
 * this range that most often overlaps the rectangle by IoU >= 0.7 (`unseenSides`).
 */
export const UPLOAD_SIDE_SHARES: readonly [number, number] = [0.15, 0.3];

/** The range of a rectangle's side along each axis, in input pixels: [shortest, longest]. */
export interface RectangleSides {
  x: readonly [number, number];
  y: readonly [number, number];
}

/** What one axis of the input shows of a rectangle: its two edges, whether each was seen, and how far the white goes. */
interface AxisReading {
  lo: number;
  hi: number;
  /** The heatmap's box along this axis, [start, end). */
  heatmap: [number, number];
  loSeen: boolean;
  hiSeen: boolean;
  /** The white around the rectangle ends here on either side: an unseen edge lies no further. */
  near: number;
  far: number;
}

/**
 * Steps across a range, both ends included: of the candidate sides, and of the true sides each is
 * compared with. 8 steps of true sides choose what 24 do (on [15, 30] and on the validation catalogue's
 * boxes) in a sixth of the time.
 */
const SIDE_STEPS = 24;
const TRUE_SIDE_STEPS = 8;

/**
 * The sides to give an axis whose edge nobody can see. Its true side is anywhere in its range (up to
 * where the white ends), so take the side that overlaps the most of the possible rectangles by IoU
 * >= 0.7 (the box counts as found), the mean IoU breaking ties. Both axes at once: where both have an
 * unseen edge, the IoU is a product of two guesses and a longer side pays (about 23% of the photo's
 * side against 21% when the other axis is known). A number is a known side (both edges seen).
 */
export function unseenSides(x: number | readonly [number, number], y: number | readonly [number, number]): [number, number] {
  const grid = (r: number | readonly [number, number], steps: number) =>
    typeof r === 'number' ? [r] : Array.from({ length: steps + 1 }, (_, i) => r[0] + ((r[1] - r[0]) * i) / steps);
  const [xs, ys] = [grid(x, SIDE_STEPS), grid(y, SIDE_STEPS)];
  const [txs, tys] = [grid(x, TRUE_SIDE_STEPS), grid(y, TRUE_SIDE_STEPS)];
  let best = { x: xs[0], y: ys[0], value: -1 };
  for (const gx of xs)
    for (const gy of ys) {
      let [found, sum] = [0, 0];
      for (const tx of txs)
        for (const ty of tys) {
          // The guess and the truth share the seen edge, so they overlap by the shorter side along each axis.
          const inter = Math.min(gx, tx) * Math.min(gy, ty);
          const v = inter / (gx * gy + tx * ty - inter);
          if (v >= 0.7) found++;
          sum += v;
        }
      const value = found + sum / (txs.length * tys.length + 1);
      if (value > best.value) best = { x: gx, y: gy, value };
    }
  return [best.x, best.y];
}

/** Share of near-white pixels in the box that are not exactly white above which the input counts as noisy (JPEG). */
const NOISY_SHARE = 0.05;
/** What counts as white: exactly (within float error) in a clean input, loosely in a noisy one. */
const WHITE_TOLERANCE = { exact: 0.0005, noisy: 0.02 };
/**
 * A canvas at least this far below white (1.5 levels of 255: 253 and darker) can be told from the pasted
 * white, as a JPEG keeps a flat area's level within about a level; nearer white, the two are one
 * (measured in docs/experiments.md).
 */
const CANVAS_STEP = 1.5 / 255;
/** How much darker than white what lies beyond an edge must be to place the edge inside its pixel. */
const MIN_EDGE_CONTRAST = 0.1;
/** How many runs must stop on one line for it to count as the rectangle's edge: 3, or 5% of them. */
const MIN_STRAIGHT_LINES = 3;
const STRAIGHT_SHARE = 0.05;
/** The share of runs left out where the white ends first, as strays (see `far`). */
const STRAY_LINES_SHARE = 0.05;
/** How far past the heatmap's edge (pixels of a 64 input, a heatmap cell's side) a white run may end and still be that edge. */
const EDGE_REACH = 4;

/** What the box reader knows of one input while it reads the rectangle's edges in it. */
interface SnapContext {
  box: Box;
  input: ArrayLike<number>;
  S: number;
  /** Input values from here up are the rectangle's white. */
  whiteFrom: number;
  /** How far past the heatmap's edge a white run may end and still be that edge (input pixels). */
  reach: number;
  /** The typical side of a rectangle (input pixels), for an axis whose unseen edge has no range. */
  whole: number;
  sides: RectangleSides | undefined;
  framed: boolean;
}

/**
 * One axis's edges, reading the lines [from, to) across it. `before`: the first pass's reading, whose
 * seen edges stand where this pass, on other lines, does not see them.
 */
function readAxis(ctx: SnapContext, horizontal: boolean, [from, to]: [number, number], before?: AxisReading): AxisReading {
  const { box, input, S, whiteFrom, reach, framed, sides } = ctx;
  const [start, size] = horizontal ? [box.x, box.width] : [box.y, box.height];
  const [across, acrossSize] = [from, to - from];
  const value = (line: number, p: number) => (horizontal ? input[line * S + p] : input[p * S + line]);
  const isWhite = (line: number, p: number) => value(line, p) >= whiteFrom;
  // The pixel where a white run ends is part white, part what lies beyond (the input is an area
  // average): the share the rectangle covers, read against the next pixel out (both averaged over
  // the lines whose run ends there, so texture beside the edge averages out), places the edge
  // inside it. Without this every seen edge sat half a pixel inside the rectangle.
  const covered = (at: number[], p: number, beyond: number) => {
    if (beyond < 0 || beyond >= S) return 0;
    let [v, c] = [0, 0];
    for (const line of at) [v, c] = [v + value(line, p), c + value(line, beyond)];
    [v, c] = [v / at.length, c / at.length];
    return 1 - c > MIN_EDGE_CONTRAST ? Math.min(1, Math.max(0, (v - c) / (1 - c))) : 0;
  };
  // Lines well inside the box across this axis, so none grazes the rectangle's own border.
  const lines: number[] = [];
  for (let o = Math.ceil(across + 0.5); o < Math.floor(across + acrossSize - 0.5); o++) if (o >= 0 && o < S) lines.push(o);
  if (!lines.length) lines.push(Math.min(S - 1, Math.max(0, Math.round(across + acrossSize / 2))));
  const mid = Math.min(S - 1, Math.max(0, Math.floor(start + size / 2)));
  const runs: { line: number; lo: number; hi: number }[] = [];
  for (const line of lines) {
    if (!isWhite(line, mid)) continue;
    let lo = mid;
    while (lo > 0 && isWhite(line, lo - 1)) lo--;
    let hi = mid + 1;
    while (hi < S && isWhite(line, hi)) hi++;
    runs.push({ line, lo, hi });
  }
  const heatmap: [number, number] = [start, start + size];
  if (!runs.length)
    return before ?? { lo: start, hi: start + size, heatmap, loSeen: false, hiSeen: false, near: -Infinity, far: Infinity };
  // Where the edge is visible the runs end exactly on it; elsewhere they run on past it. A
  // quartile, not the extreme, so a stray pixel in one line does not move the edge.
  const lows = runs.map((r) => r.lo).sort((a, b) => a - b);
  const highs = runs.map((r) => r.hi).sort((a, b) => a - b);
  const lo0 = lows[Math.floor(lows.length * 0.75)];
  const hi0 = highs[Math.max(0, Math.ceil(highs.length * 0.25) - 1)];
  const lo =
    lo0 > 0
      ? lo0 -
        covered(
          runs.filter((r) => r.lo === lo0).map((r) => r.line),
          lo0 - 1,
          lo0 - 2,
        )
      : lo0;
  const hi =
    hi0 < S
      ? hi0 +
        covered(
          runs.filter((r) => r.hi === hi0).map((r) => r.line),
          hi0,
          hi0 + 1,
        )
      : hi0;
  // A run that reaches the border of a frame has not seen an edge: the photo goes on past it. Nor has
  // one that reaches the border of an upload on white: the background goes on to it. Under full
  // framing (the paper's squares) the border of the photo is an edge.
  const borderIsEdge = !framed && !sides;
  let loSeen = (lo > 0 || borderIsEdge) && lo >= start - reach;
  let hiSeen = (hi < S || borderIsEdge) && hi <= start + size + reach;
  // An edge seen on only a few lines (the rectangle clips an object's side for a short stretch and
  // runs into white elsewhere), too few for the quartiles: several runs stopping on one line is that
  // edge, where the white ends first (no run can go past the rectangle's edge into what stops the others).
  const straight = Math.max(MIN_STRAIGHT_LINES, Math.ceil(runs.length * STRAIGHT_SHARE));
  const shared = (ends: number[]): number | undefined => {
    for (let i = 0; i + straight - 1 < ends.length; i++) if (ends[i + straight - 1] - ends[i] <= 1) return ends[i];
    return undefined;
  };
  let [loAt, hiAt] = [lo, hi];
  const loStop = loSeen ? undefined : shared(lows.filter((v) => v > 0).reverse());
  if (loStop !== undefined && loStop >= start - reach) {
    const stopped = runs.filter((r) => r.lo === loStop).map((r) => r.line);
    [loAt, loSeen] = [loStop - covered(stopped, loStop - 1, loStop - 2), true];
  }
  const hiStop = hiSeen ? undefined : shared(highs.filter((v) => v < S));
  if (hiStop !== undefined && hiStop <= start + size + reach) {
    const stopped = runs.filter((r) => r.hi === hiStop).map((r) => r.line);
    [hiAt, hiSeen] = [hiStop + covered(stopped, hiStop, hiStop + 1), true];
  }
  if (!loSeen && before?.loSeen) [loAt, loSeen] = [before.lo, true];
  if (!hiSeen && before?.hiSeen) [hiAt, hiSeen] = [before.hi, true];
  // The unseen edge lies in the white beyond the seen one, so no further than the white runs go: a
  // rectangle that went on would have covered what ends them. The few runs that stop first are left
  // out: a line or two past the rectangle's side runs into the object beside it.
  const drop = Math.floor(runs.length * STRAY_LINES_SHARE);
  const far = highs[drop] < S ? highs[drop] : framed ? Infinity : S;
  const near = lows[lows.length - 1 - drop] > 0 ? lows[lows.length - 1 - drop] : framed ? -Infinity : 0;
  // No edge seen: the heatmap's extent stands.
  if (!loSeen && !hiSeen) return { lo: start, hi: start + size, heatmap, loSeen, hiSeen, near, far };
  return { lo: loAt, hi: hiAt, heatmap, loSeen, hiSeen, near, far };
}

/** Both edges seen, or neither (the heatmap's extent stands): nothing to guess along this axis. */
function known(a: AxisReading): boolean {
  return a.loSeen === a.hiSeen;
}

/**
 * How far an axis's unseen edge lies at least: along each seen edge of the other axis, the rectangle
 * hides what ran from its seen corner up to where the object's outline leaves that edge (what is just
 * outside the edge is dark from the corner on), so it reaches at least that far. Where the rectangle
 * clips an object's corner, this is where the cut along the seen edge ends (less a pixel, for the
 * outline's blur). 0 when nothing says.
 */
function hiddenAlong(ctx: SnapContext, a: AxisReading, b: AxisReading, horizontal: boolean): number {
  const { input, S } = ctx;
  if (known(a)) return 0;
  let most = 0;
  const outside = [b.loSeen ? Math.floor(b.lo) - 1 : -1, b.hiSeen ? Math.ceil(b.hi) : -1].filter((o) => o >= 0 && o < S);
  for (const o of outside) {
    const isDark = (p: number) => p >= 0 && p < S && (horizontal ? input[o * S + p] : input[p * S + o]) < 1 - MIN_EDGE_CONTRAST;
    if (a.loSeen) {
      // From the first whole pixel past the seen edge, as far as the dark runs on.
      let p = Math.ceil(a.lo) + 1;
      if (!isDark(p)) continue;
      while (isDark(p + 1)) p++;
      most = Math.max(most, p - a.lo);
    } else {
      let p = Math.floor(a.hi) - 2;
      if (!isDark(p)) continue;
      while (isDark(p - 1)) p--;
      most = Math.max(most, a.hi - p - 1);
    }
  }
  return most;
}

/** Both axes' edges, an unseen edge placed from the seen one by `unseenSides` within the white. */
function placeEdges(
  ctx: SnapContext,
  x: AxisReading,
  y: AxisReading,
): { x: [number, number]; y: [number, number]; readings: { x: AxisReading; y: AxisReading } } {
  const { sides, whole } = ctx;
  // How long the side can be: the range, from no shorter than what it hides along the other axis's
  // seen edges, cut where the white ends.
  const span = (
    a: AxisReading,
    range: readonly [number, number] | undefined,
    hidden: number,
  ): number | readonly [number, number] => {
    if (known(a)) return a.hi - a.lo;
    const room = a.loSeen ? a.far - a.lo : a.hi - a.near;
    // No range: out to the heatmap's box when it reaches further than the typical side.
    if (!range) return Math.min(room, Math.max(whole, a.loSeen ? a.heatmap[1] - a.lo : a.hi - a.heatmap[0]));
    const [min, max] = [Math.min(Math.max(range[0], hidden), range[1]), range[1]];
    return room <= min ? room : [min, Math.min(max, room)];
  };
  const [w, h] = unseenSides(span(x, sides?.x, hiddenAlong(ctx, x, y, true)), span(y, sides?.y, hiddenAlong(ctx, y, x, false)));
  const edges = (a: AxisReading, side: number): [number, number] =>
    known(a) ? [a.lo, a.hi] : a.loSeen ? [a.lo, a.lo + side] : [a.hi - side, a.hi];
  return { x: edges(x, w), y: edges(y, h), readings: { x, y } };
}

/**
 * The heatmap is coarse (a cell is 4x4 input pixels) and only sees what is visible, so its box
 * shrinks where the rectangle meets a white background. The rectangle itself is white in the input,
 * so its edges are read there, to the pixel: along each row (and column) through the box, the white
 * run around the box's centre ends at the rectangle's edge where something non-white lies beyond it.
 * An edge whose run goes on well past the heatmap's (into white background) cannot be seen; the
 * opposite edge and the typical side place it. An axis with no visible edge keeps the heatmap's extent.
 */
export function snapBoxToInput(
  box: Box,
  input: ArrayLike<number>,
  inputSize = INPUT_SIZE,
  /**
   * The range of the rectangle's sides in input pixels (uploads; the paper's exact square). Without it
   * the side is unknown: an unseen edge goes as far as the heatmap's box, and at least
   * `TYPICAL_RECTANGLE_SIDE` from the seen one.
   */
  sides?: RectangleSides,
  /** The input is a frame inside a larger photo: an edge nobody sees may lie past the input's border. */
  framed = false,
): Box {
  const S = inputSize;
  let near = 0;
  let white = 0;
  for (let r = Math.max(0, Math.floor(box.y)); r < Math.min(S, Math.ceil(box.y + box.height)); r++)
    for (let c = Math.max(0, Math.floor(box.x)); c < Math.min(S, Math.ceil(box.x + box.width)); c++) {
      const v = input[r * S + c];
      if (v >= 1 - WHITE_TOLERANCE.noisy) {
        white++;
        if (v < 1 - WHITE_TOLERANCE.exact) near++;
      }
    }
  const tolerance = white && near / white > NOISY_SHARE ? WHITE_TOLERANCE.noisy : WHITE_TOLERANCE.exact;
  // A product on a near-white canvas (250-253 of 255) would pass for white at the noisy tolerance, and
  // every edge of the rectangle against it would go unseen: white is then above halfway to the canvas.
  const canvas = framed ? borderMedian(input, S) : 1;
  const whiteFrom = Math.max(1 - tolerance, canvas <= 1 - CANVAS_STEP ? (1 + canvas) / 2 : -Infinity);
  const ctx: SnapContext = {
    box,
    input,
    S,
    whiteFrom,
    reach: (EDGE_REACH * S) / INPUT_SIZE,
    whole: (TYPICAL_RECTANGLE_SIDE * S) / INPUT_SIZE,
    sides,
    framed,
  };

  const first = placeEdges(
    ctx,
    readAxis(ctx, true, [box.y, box.y + box.height]),
    readAxis(ctx, false, [box.x, box.x + box.width]),
  );
  // Again through the lines the first pass found inside the rectangle: where the heatmap's box is
  // taller or wider than the rectangle, its outer lines run into the photo and would stop an unseen
  // edge short.
  const inside = ([a, b]: [number, number]): [number, number] => (framed ? [a, b] : [Math.max(0, a), Math.min(S, b)]);
  const second = placeEdges(ctx, readAxis(ctx, true, first.y, first.readings.x), readAxis(ctx, false, first.x, first.readings.y));
  const [x0, x1] = inside(second.x);
  const [y0, y1] = inside(second.y);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The median of an input's outermost pixels: the canvas, in a frame around a product. */
function borderMedian(input: ArrayLike<number>, S: number): number {
  const border: number[] = [];
  for (let i = 0; i < S; i++) border.push(input[i], input[(S - 1) * S + i], input[i * S], input[i * S + S - 1]);
  border.sort((a, b) => a - b);
  return border[border.length >> 1];
}

/** A model-input box in a photo's own pixels (the input is the whole photo, stretched), whole and inside it. */
export function boxInImage(box: Box, width: number, height: number, inputSize = INPUT_SIZE): Box {
  const sx = width / inputSize;
  const sy = height / inputSize;
  return wholeInside({ x: box.x * sx, y: box.y * sy, width: box.width * sx, height: box.height * sy }, width, height);
}

/** A box in a photo's pixels rounded to whole pixels and cut to the photo. */
function wholeInside(box: Box, width: number, height: number): Box {
  const x0 = Math.min(width, Math.max(0, Math.round(box.x)));
  const y0 = Math.min(height, Math.max(0, Math.round(box.y)));
  const x1 = Math.min(width, Math.max(x0, Math.round(box.x + box.width)));
  const y1 = Math.min(height, Math.max(y0, Math.round(box.y + box.height)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * The `box` of a CheckResult: where the rectangle is in the photo, for a flagged photo and a localising
 * model; `frame` is the part of the photo the input shows under `content` framing (null: all of it).
 */
export function resultBox(
  heatmap: Heatmap | undefined,
  input: ArrayLike<number>,
  flagged: boolean,
  width: number,
  height: number,
  frame: Frame | null = null,
  /** The model's framing: `content` models are upload models, whose typical rectangle is an upload's. */
  framing: Framing = frame ? 'content' : 'full',
  inputSize = INPUT_SIZE,
): Box | null {
  if (!heatmap || !flagged) return null;
  // An upload's rectangles as shares of the photo's sides, in input pixels (through the frame, if any).
  const [sx, sy] = frame ? [(width / frame.side) * inputSize, (height / frame.side) * inputSize] : [inputSize, inputSize];
  const [min, max] = UPLOAD_SIDE_SHARES;
  const sides: RectangleSides | undefined =
    framing === 'content' ? { x: [min * sx, max * sx], y: [min * sy, max * sy] } : undefined;
  const box = boxFromHeatmap(heatmap, input, inputSize, sides, frame != null);
  if (!box) return null;
  return frame
    ? wholeInside(inputBoxToPhoto(box, frame, width, height, inputSize), width, height)
    : boxInImage(box, width, height, inputSize);
}
