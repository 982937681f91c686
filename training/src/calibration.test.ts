import { describe, expect, it } from 'vitest';
import { calibrated, fitPlatt, logitOf, reliability } from './calibration.js';
import { Rng } from './rng.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('calibration', () => {
  it('recovers the scaling that made over-confident scores from calibrated ones', () => {
    // Labels drawn from calibrated probabilities q = sigmoid(z); the model reports sigmoid(4z - 3) (saturated, shifted).
    const rng = new Rng('platt');
    const scores: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const z = rng.uniform(-4, 4);
      labels.push(rng.float() < sigmoid(z) ? 1 : 0);
      scores.push(sigmoid(4 * z - 3));
    }
    const fit = fitPlatt(scores, labels);
    // z = (logit(score) + 3) / 4: scale 1/4, shift 3/4.
    expect(fit.scale).toBeCloseTo(0.25, 1);
    expect(fit.shift).toBeCloseTo(0.75, 1);
    const before = reliability(scores, labels).ece;
    const after = reliability(
      scores.map((s) => calibrated(fit, s)),
      labels,
    ).ece;
    expect(before).toBeGreaterThan(0.1);
    expect(after).toBeLessThan(0.02);
  });

  it('reads saturated float32 scores as a finite logit', () => {
    expect(logitOf(1)).toBe(16);
    expect(logitOf(0)).toBe(-16);
    expect(logitOf(0.5)).toBe(0);
    expect(logitOf(sigmoid(3))).toBeCloseTo(3, 10);
  });

  it('bins scores with the share of damaged photos in each, and weighs the gaps by count', () => {
    const { bins, ece } = reliability([0.05, 0.15, 0.95, 0.95, 1], [0, 1, 1, 0, 1], 10);
    expect(bins[0]).toMatchObject({ count: 1, damaged: 0, meanScore: 0.05 });
    expect(bins[1]).toMatchObject({ count: 1, damaged: 1 });
    expect(bins[9].count).toBe(3);
    expect(bins[9].damaged).toBeCloseTo(2 / 3, 10);
    expect(bins[5].count).toBe(0);
    // |0.05-0| + |0.15-1| + 3*|0.9667-0.6667|, over 5.
    expect(ece).toBeCloseTo((0.05 + 0.85 + 3 * (2.9 / 3 - 2 / 3)) / 5, 10);
  });
});
