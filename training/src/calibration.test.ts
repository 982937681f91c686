import { describe, expect, it } from 'vitest';
import { scoreLogit } from '@blankspot/core';
import { calibrated, fitPlatt, reliability } from './calibration.js';
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
    // Core's logit, the one the views average: 1 and 0 are read as 1 - 1e-7 and 1e-7.
    expect(scoreLogit(1)).toBeCloseTo(16.118, 3);
    expect(scoreLogit(0)).toBeCloseTo(-16.118, 3);
    expect(scoreLogit(0.5)).toBe(0);
    expect(scoreLogit(sigmoid(3))).toBeCloseTo(3, 10);
    expect(calibrated({ scale: 1, shift: 0 }, 1)).toBeCloseTo(1 - 1e-7, 12);
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
