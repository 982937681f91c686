import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thresholdForFalseAlarms, wilson } from './metrics.js';

describe('wilson', () => {
  it('brackets the observed rate, and stays inside [0,1] at 0 and at all', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, p) => {
        const hits = Math.round(p * n);
        const r = wilson(hits, n);
        expect(r.low).toBeLessThanOrEqual(r.rate + 1e-12);
        expect(r.high).toBeGreaterThanOrEqual(r.rate - 1e-12);
        expect(r.low).toBeGreaterThanOrEqual(0);
        expect(r.high).toBeLessThanOrEqual(1);
      }),
    );
    // A known value: 0 of 2000 has an upper bound of about 0.19%.
    expect(wilson(0, 2000).high).toBeCloseTo(0.00192, 4);
    expect(wilson(20, 2000).rate).toBe(0.01);
  });
});

describe('thresholdForFalseAlarms', () => {
  it('flags at most the target share of clean scores, and as many as it allows when scores are distinct', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 400 }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        (scores, target) => {
          const t = thresholdForFalseAlarms(scores, target);
          expect(t).toBeGreaterThan(0);
          expect(t).toBeLessThan(1);
          const flagged = scores.filter((s) => s >= t).length;
          const allowed = Math.floor(target * scores.length);
          if (scores.every((s) => s < 1 - 1e-6)) expect(flagged).toBeLessThanOrEqual(allowed);
          const distinct = new Set(scores).size === scores.length;
          const sorted = [...scores].sort((a, b) => b - a);
          if (distinct && allowed < scores.length && sorted[allowed - 1] - sorted[allowed] > 1e-5) expect(flagged).toBe(allowed);
        },
      ),
    );
  });
});
