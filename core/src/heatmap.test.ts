import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { boxFromHeatmap, boxInImage, iou } from './heatmap.js';

/** The exact coverage map a perfect localiser would output for a box on a side x side grid. */
function coverageMap(box: { x: number; y: number; w: number; h: number }, side = 16, input = 64): Float32Array {
  const cell = input / side;
  const out = new Float32Array(side * side);
  for (let r = 0; r < side; r++)
    for (let c = 0; c < side; c++) {
      const ox = Math.max(0, Math.min((c + 1) * cell, box.x + box.w) - Math.max(c * cell, box.x));
      const oy = Math.max(0, Math.min((r + 1) * cell, box.y + box.h) - Math.max(r * cell, box.y));
      out[r * side + c] = (ox * oy) / (cell * cell);
    }
  return out;
}

describe('boxFromHeatmap', () => {
  it('recovers any box from its exact coverage map', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 8, max: 30, noNaN: true }),
        fc.double({ min: 8, max: 30, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (w, h, fx, fy) => {
          const box = { x: fx * (64 - w), y: fy * (64 - h), w, h };
          const got = boxFromHeatmap({ data: coverageMap(box), height: 16, width: 16 })!;
          expect(got.x).toBeCloseTo(box.x, 1);
          expect(got.y).toBeCloseTo(box.y, 1);
          expect(got.w).toBeCloseTo(box.w, 1);
          expect(got.h).toBeCloseTo(box.h, 1);
        },
      ),
    );
  });

  it('keeps IoU above 0.9 for the paper square when every cell is off by up to 0.1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 48 }), fc.integer({ min: 0, max: 48 }), fc.integer(), (x, y, seed) => {
        const box = { x, y, w: 16, h: 16 };
        const map = coverageMap(box);
        let s = seed >>> 0;
        for (let i = 0; i < map.length; i++) {
          s = (s * 1664525 + 1013904223) >>> 0;
          map[i] = Math.min(1, Math.max(0, map[i] + ((s / 2 ** 32) * 0.2 - 0.1)));
        }
        expect(iou(boxFromHeatmap({ data: map, height: 16, width: 16 })!, box)).toBeGreaterThan(0.9);
      }),
    );
  });

  it('follows the strongest region, not a weaker one elsewhere', () => {
    const map = coverageMap({ x: 40, y: 40, w: 16, h: 16 });
    map[0] = 0.6;
    map[1] = 0.6;
    const got = boxFromHeatmap({ data: map, height: 16, width: 16 })!;
    expect(iou(got, { x: 40, y: 40, w: 16, h: 16 })).toBeCloseTo(1, 5);
  });

  it('answers null for an empty or zero heatmap', () => {
    expect(boxFromHeatmap({ data: new Float32Array(256), height: 16, width: 16 })).toBeNull();
    expect(boxFromHeatmap({ data: new Float32Array(0), height: 0, width: 0 })).toBeNull();
  });
});

describe('boxInImage', () => {
  it('scales to the photo, whole pixels, inside it', () => {
    expect(boxInImage({ x: 16, y: 8, w: 16, h: 16 }, 1000, 500)).toEqual({ x: 250, y: 63, width: 250, height: 125 });
    expect(boxInImage({ x: -2, y: 60, w: 10, h: 10 }, 64, 64)).toEqual({ x: 0, y: 60, width: 8, height: 4 });
  });
});
