import { describe, expect, it } from 'vitest';
import { tf, useBackend } from './backend.js';
import { ArrayOptimizer, type OptimizerKind } from './optimizer.js';
import { Rng } from './rng.js';

/** Weights after `steps` updates from the same gradient sums, by tfjs's optimizer and by ArrayOptimizer. */
async function both(kind: OptimizerKind, steps: number) {
  await useBackend('cpu');
  const rng = new Rng(`optimizer-${kind}`);
  const shapes = [[5, 5, 1, 8], [8], [13, 2]];
  const start = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)));
  const grads = Array.from({ length: steps }, () => start.map((w) => Float32Array.from(w, () => rng.uniform(-3, 3))));
  const count = 32;
  const lrs = Array.from({ length: steps }, (_, i) => (kind === 'adam' ? 0.01 : 0.5) / (1 + i));

  const theirsVars = start.map((w, i) => tf.variable(tf.tensor(w, shapes[i])));
  const theirs = kind === 'adam' ? tf.train.adam(lrs[0]) : tf.train.sgd(lrs[0]);
  const oursVars = start.map((w, i) => tf.variable(tf.tensor(w, shapes[i])));
  const ours = new ArrayOptimizer(kind, lrs[0], oursVars);
  for (let s = 0; s < steps; s++) {
    if (kind === 'adam') (theirs as unknown as { learningRate: number }).learningRate = lrs[s];
    else (theirs as tf.SGDOptimizer).setLearningRate(lrs[s]);
    theirs.applyGradients(theirsVars.map((v, i) => ({ name: v.name, tensor: tf.div(tf.tensor(grads[s][i], shapes[i]), count) })));
    ours.learningRate = lrs[s];
    ours.step(grads[s], count);
  }
  const read = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));
  const out = { start: start.map((w) => Array.from(w)), theirs: read(theirsVars), ours: read(oursVars) };
  tf.dispose([...theirsVars, ...oursVars]);
  return out;
}

describe('ArrayOptimizer', () => {
  for (const kind of ['adam', 'sgd'] as const) {
    it(`${kind}: the same weights as tfjs's optimizer over 20 steps with a changing learning rate`, async () => {
      const { start, theirs, ours } = await both(kind, 20);
      theirs.forEach((w, i) => {
        // The steps moved the weights (not a no-op), and ours moved them where tfjs did, up to float32 rounding.
        const moved = w.reduce((sum, x, j) => sum + Math.abs(x - start[i][j]), 0) / w.length;
        expect(moved).toBeGreaterThan(1e-3);
        w.forEach((x, j) => expect(ours[i][j]).toBeCloseTo(x, 5));
      });
    });
  }

  it('refuses a gradient of the wrong size', async () => {
    await useBackend('cpu');
    const v = tf.variable(tf.zeros([3]));
    expect(() => new ArrayOptimizer('adam', 0.1, [v]).step([new Float32Array(2)], 1)).toThrow(/2 values, its weights 3/);
    v.dispose();
  });
});
