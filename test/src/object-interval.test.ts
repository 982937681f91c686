/** The catalogue figures' object-resampled intervals (uploads.ts objectInterval). */
import { describe, expect, it } from 'vitest';
import { wilson } from '@blankspot/training';
import { objectInterval } from './uploads.js';

describe('intervals with the objects resampled', () => {
  it('is wide where one object makes every false alarm, where a per-photo interval is narrow', () => {
    // 40 objects, 50 clean photos each; one object is flagged in 20 of its 50: 1% pooled.
    const groups = Array.from({ length: 40 }, (_, k) => ({ hits: k === 0 ? 20 : 0, total: 50 }));
    const perPhoto = wilson(20, 2000);
    const perObject = objectInterval(groups);
    expect(perPhoto.low).toBeGreaterThan(0.006);
    expect(perPhoto.high).toBeLessThan(0.016);
    // The object is left out of about a third of resampled catalogues, and drawn twice or more in a quarter.
    expect(perObject.low).toBe(0);
    expect(perObject.high).toBeGreaterThanOrEqual(0.02);
  });

  it('is about the per-photo interval where every object fails alike', () => {
    const groups = Array.from({ length: 40 }, () => ({ hits: 5, total: 50 }));
    const perObject = objectInterval(groups);
    expect(perObject.low).toBeCloseTo(0.1, 10);
    expect(perObject.high).toBeCloseTo(0.1, 10);
  });

  it('is the same on every run and holds the pooled rate', () => {
    const groups = Array.from({ length: 30 }, (_, k) => ({ hits: k % 7, total: 20 + (k % 5) }));
    const pooled = groups.reduce((a, g) => a + g.hits, 0) / groups.reduce((a, g) => a + g.total, 0);
    const a = objectInterval(groups);
    expect(objectInterval(groups)).toEqual(a);
    expect(a.low).toBeLessThan(pooled);
    expect(a.high).toBeGreaterThan(pooled);
  });
});
