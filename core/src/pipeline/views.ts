/**
 * Views a model is run on. `mirror`: the input and its left-right mirror image in one batch; the
 * score is the mean of the two logits, the heatmap the mean of the two (the mirror's flipped back).
 * `flips`: the same over four views, the input flipped left-right, top-bottom and both.
 * A rectangle's straight cut in a silhouette looks the same mirrored, while a clean object's own
 * chance resemblances to one need not: on real product uploads the mean of the two ranked damage above
 * clean photos better than either view (docs/experiments.md).
 * Thresholds are chosen on the same views, so an entry's `views` travels with its thresholds.
 */
import { INPUT_SIZE, NUM_CLASSES, ANOMALY_CLASS, inputShapeOf, scoreLogit } from '../contract.js';
import type { ModelEntry, Views } from '../manifest.js';
import type { InferenceSession, ModelOutputs } from './ports.js';

export function viewsOf(entry: Pick<ModelEntry, 'views'>): Views {
  return entry.views ?? 'single';
}

/** Views the closer look (ModelEntry.closerLook) runs on: its own, else the model's. */
export function closerViewsOf(entry: Pick<ModelEntry, 'views' | 'closerLook'>): Views {
  return entry.closerLook?.views ?? viewsOf(entry);
}

/** The flips (left-right, top-bottom) of each view a model runs on; the first is the input itself. */
const VIEW_FLIPS: Record<Views, readonly (readonly [boolean, boolean])[]> = {
  single: [[false, false]],
  mirror: [
    [false, false],
    [true, false],
  ],
  flips: [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ],
};

/** Each of n inputs flipped left to right (`x`) and/or top to bottom (`y`). */
export function flipInputs(input: Float32Array, n: number, x: boolean, y: boolean, side = INPUT_SIZE): Float32Array {
  const out = new Float32Array(n * side * side);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < side; r++) {
      const to = (i * side + r) * side;
      const from = (i * side + (y ? side - 1 - r : r)) * side;
      for (let c = 0; c < side; c++) out[to + c] = input[from + (x ? side - 1 - c : c)];
    }
  return out;
}

/** Each of n inputs mirrored left to right. */
export function mirrorInputs(input: Float32Array, n: number, side = INPUT_SIZE): Float32Array {
  return flipInputs(input, n, true, false, side);
}

/** Runs n square inputs (of any one side) on the views a model entry names, in one batch; `single` is one plain run. */
/** Model inputs of one side, one after another: a batch for `runModel`. */
export function batchOf(inputs: readonly Float32Array[]): Float32Array {
  const batch = new Float32Array(inputs.reduce((n, input) => n + input.length, 0));
  inputs.reduce((at, input) => (batch.set(input, at), at + input.length), 0);
  return batch;
}

export async function runModel(session: InferenceSession, input: Float32Array, n: number, views: Views): Promise<ModelOutputs> {
  if (views === 'single') return session.run(input, n);
  const flips = VIEW_FLIPS[views];
  const k = flips.length;
  const [, , side] = inputShapeOf(input, n);
  const pixels = side * side;
  const all = new Float32Array(k * n * pixels);
  all.set(input.subarray(0, n * pixels));
  flips.forEach(([x, y], v) => v && all.set(flipInputs(input, n, x, y, side), v * n * pixels));
  const out = await session.run(all, k * n);
  const prob = new Float32Array(n * NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let v = 0; v < k; v++) z += scoreLogit(out.prob[(v * n + i) * NUM_CLASSES + ANOMALY_CLASS]);
    const p = 1 / (1 + Math.exp(-z / k));
    prob[i * NUM_CLASSES + ANOMALY_CLASS] = p;
    prob[i * NUM_CLASSES + 1 - ANOMALY_CLASS] = 1 - p;
  }
  if (!out.heatmap) return { prob };
  const { height, width } = out.heatmap;
  const cells = out.heatmap.data;
  const data = new Float32Array(n * height * width);
  // Each view's heatmap flipped back onto the input's cells, then the mean.
  flips.forEach(([fx, fy], v) => {
    for (let i = 0; i < n; i++)
      for (let r = 0; r < height; r++)
        for (let c = 0; c < width; c++) {
          const from = ((v * n + i) * height + (fy ? height - 1 - r : r)) * width + (fx ? width - 1 - c : c);
          data[(i * height + r) * width + c] += cells[from] / k;
        }
  });
  return { prob, heatmap: { data, height, width } };
}
