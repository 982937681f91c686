/**
 * Views a model is run on. `mirror`: the input and its left-right mirror image in one batch; the
 * score is the mean of the two logits, the heatmap the mean of the two (the mirror's flipped back).
 * A rectangle's straight cut in a silhouette looks the same mirrored, while a clean object's own
 * chance resemblances to one need not: on real product uploads the mean of the two ranked damage above
 * clean photos better than either view (recall at 1% false alarms 66.8% -> 69.8%, models/README.md).
 * Thresholds are chosen on the same views, so an entry's `views` travels with its thresholds.
 */
import { INPUT_SIZE, NUM_CLASSES, ANOMALY_CLASS } from '../contract.js';
import type { ModelEntry, Views } from '../manifest.js';
import type { InferenceSession, ModelOutputs } from './ports.js';

export function viewsOf(entry: Pick<ModelEntry, 'views'>): Views {
  return entry.views ?? 'single';
}

/** Each of n inputs mirrored left to right. */
export function mirrorInputs(input: Float32Array, n: number, side = INPUT_SIZE): Float32Array {
  const out = new Float32Array(n * side * side);
  for (let r = 0; r < n * side; r++) {
    const row = r * side;
    for (let x = 0; x < side; x++) out[row + x] = input[row + side - 1 - x];
  }
  return out;
}

// Float32 softmax saturates at 1: clamped so a certain view still counts, and finitely.
const EPS = 1e-7;
const logit = (p: number) => {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
};

/** Runs n inputs on the views a model entry names; `single` is one plain run. */
export async function runModel(session: InferenceSession, input: Float32Array, n: number, views: Views): Promise<ModelOutputs> {
  if (views === 'single') return session.run(input, n);
  const pixels = INPUT_SIZE * INPUT_SIZE;
  const both = new Float32Array(2 * n * pixels);
  both.set(input.subarray(0, n * pixels));
  both.set(mirrorInputs(input, n), n * pixels);
  const out = await session.run(both, 2 * n);
  const prob = new Float32Array(n * NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const z = (logit(out.prob[i * NUM_CLASSES + ANOMALY_CLASS]) + logit(out.prob[(n + i) * NUM_CLASSES + ANOMALY_CLASS])) / 2;
    const p = 1 / (1 + Math.exp(-z));
    prob[i * NUM_CLASSES + ANOMALY_CLASS] = p;
    prob[i * NUM_CLASSES + 1 - ANOMALY_CLASS] = 1 - p;
  }
  if (!out.heatmap) return { prob };
  const { height, width } = out.heatmap;
  const cells = out.heatmap.data;
  const data = new Float32Array(n * height * width);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const plain = cells[(i * height + y) * width + x];
        const mirrored = cells[((n + i) * height + y) * width + (width - 1 - x)];
        data[(i * height + y) * width + x] = (plain + mirrored) / 2;
      }
    }
  }
  return { prob, heatmap: { data, height, width } };
}
