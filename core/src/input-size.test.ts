/**
 * Models with their own input side (`inputSize` in the manifest): every step of the pipeline made at
 * that side, and the 64 default unchanged.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { INPUT_SIZE, inputShape, inputShapeOf } from './contract.js';
import { areaAverage, photoBoxToInput, inputBoxToPhoto, preprocessFramed, rgbaCells } from './framing.js';
import { resultBox } from './heatmap.js';
import { blockMeansCover, blockMeansMinSide } from './jpeg/index.js';
import { greyToInput, preprocess, rgbaToGrey, type RgbaImage } from './preprocess.js';
import { runModel } from './pipeline/views.js';
import type { InferenceSession } from './pipeline/ports.js';

function noise(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  let s = seed;
  for (let i = 0; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) & 255;
  return { width, height, data };
}

const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('input side', () => {
  it('preprocess at any side is the area average of the grey image at that side', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(32, 64, 128),
        fc.integer(),
        (w, h, side, seed) => {
          const img = noise(w, h, seed);
          const got = preprocess(img, side);
          expect(got.length).toBe(side * side);
          expect(worst(got, greyToInput(rgbaToGrey(img), side))).toBeLessThan(1e-5);
          expect(worst(got, areaAverage(rgbaCells(img), { x: 0, y: 0, width: w, height: h }, side, side))).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 40 },
    );
    // The default is the contract's 64.
    const img = noise(200, 150, 7);
    expect(preprocess(img)).toEqual(preprocess(img, INPUT_SIZE));
  });

  it('frames a product the same at 128 as at 64: the 128 input area-averaged to 64 is the 64 input', () => {
    // A dark product on pure white: content framing finds the same frame at either side.
    const width = 900;
    const height = 700;
    const data = new Uint8Array(width * height * 4).fill(255);
    for (let y = 200; y < 420; y++)
      for (let x = 300; x < 560; x++) {
        const p = (y * width + x) * 4;
        data[p] = data[p + 1] = data[p + 2] = (x * 7 + y * 3) % 200;
      }
    const img = { width, height, data };
    const small = preprocessFramed(img, 'content');
    const large = preprocessFramed(img, 'content', 128);
    expect(large.frame).toEqual(small.frame);
    expect(large.input.length).toBe(128 * 128);
    const down = greyToInput({ width: 128, height: 128, data: large.input }, 64);
    expect(worst(down, small.input)).toBeLessThan(1e-4);
  });

  it('maps boxes between the photo and an input of any side, through a frame or not', () => {
    const frame = { x: 100, y: 50, side: 800, background: 1 };
    const box = { x: 300, y: 250, width: 160, height: 80 };
    for (const f of [null, frame]) {
      const at64 = photoBoxToInput(box, f, 1000, 900)!;
      const at128 = photoBoxToInput(box, f, 1000, 900, 128)!;
      expect(at128.x).toBeCloseTo(2 * at64.x, 9);
      expect(at128.width).toBeCloseTo(2 * at64.width, 9);
      const back = inputBoxToPhoto(at128, f, 1000, 900, 128);
      expect(back.x).toBeCloseTo(box.x, 6);
      expect(back.y).toBeCloseTo(box.y, 6);
      expect(back.width).toBeCloseTo(box.width, 6);
      expect(back.height).toBeCloseTo(box.height, 6);
    }
  });

  it('reads a box from a 128 input and its 16x16 heatmap into the photo', () => {
    // A white 32x32 rectangle at input (32,32) on black: 8x8-pixel cells 4..7 of the heatmap.
    const input = new Float32Array(128 * 128);
    for (let y = 32; y < 64; y++) input.fill(1, y * 128 + 32, y * 128 + 64);
    const scores = new Float32Array(16 * 16);
    for (let y = 4; y < 8; y++) scores.fill(1, y * 16 + 4, y * 16 + 8);
    const frame = { x: 100, y: 200, side: 640, background: 1 };
    const box = resultBox({ width: 16, height: 16, data: scores }, input, true, 2000, 1500, frame, 'content', 128)!;
    expect(box).toEqual({ x: 260, y: 360, width: 160, height: 160 });
    const whole = resultBox({ width: 16, height: 16, data: scores }, input, true, 1280, 1280, null, 'full', 128)!;
    expect(whole).toEqual({ x: 320, y: 320, width: 320, height: 320 });
  });

  it('reads JPEG block means from 512 px, and from 4 px per input pixel for larger inputs', () => {
    expect(blockMeansMinSide()).toBe(512);
    expect(blockMeansMinSide(128)).toBe(512);
    expect(blockMeansMinSide(256)).toBe(1024);
    expect(blockMeansCover({ width: 800, height: 600 })).toBe(true);
    expect(blockMeansCover({ width: 800, height: 600 }, 128)).toBe(true);
    expect(blockMeansCover({ width: 800, height: 500 }, 128)).toBe(false);
    expect(blockMeansCover({ width: 800, height: 600 }, 256)).toBe(false);
  });

  it("gives a runtime the batch's tensor shape from its values", () => {
    expect(inputShapeOf(new Float32Array(3 * 128 * 128), 3)).toEqual([3, 1, 128, 128]);
    expect(inputShapeOf(new Float32Array(64 * 64), 1)).toEqual(inputShape(1));
    expect(() => inputShapeOf(new Float32Array(100), 3)).toThrow(RangeError);
  });

  it('runs the mirror view of a 128 input at 128', async () => {
    // A session that scores the left half's mean against the right's: its mirror scores the reverse.
    const seen: number[] = [];
    const session: InferenceSession = {
      async run(input, n) {
        seen.push(input.length / n);
        const side = Math.sqrt(input.length / n);
        const prob = new Float32Array(2 * n);
        for (let i = 0; i < n; i++) {
          let d = 0;
          for (let y = 0; y < side; y++)
            for (let x = 0; x < side; x++) d += (x < side / 2 ? 1 : -1) * input[(i * side + y) * side + x];
          const p = 1 / (1 + Math.exp(-d / side));
          prob.set([1 - p, p], 2 * i);
        }
        return { prob };
      },
      async release() {},
    };
    const input = new Float32Array(128 * 128);
    for (let y = 0; y < 128; y++) input.fill(1, y * 128, y * 128 + 40);
    const single = await runModel(session, input, 1, 'single');
    const both = await runModel(session, input, 1, 'mirror');
    expect(seen).toEqual([128 * 128, 128 * 128]);
    expect(single.prob[1]).toBeGreaterThan(0.9);
    expect(both.prob[1]).toBeCloseTo(0.5, 6);
  });
});
