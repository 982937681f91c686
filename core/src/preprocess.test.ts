import { describe, expect, it } from 'vitest';
import { INPUT_SIZE, anomalyScores, preprocess, verdictFromScore, BlankspotError, toErrorBody } from './index.js';
import { greyToInput, resizeArea, rgbaToGrey } from './preprocess.js';

function solid(width: number, height: number, rgba: [number, number, number, number]) {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return { width, height, data };
}

describe('preprocess', () => {
  it('maps white to 1 and black to 0, any size to 64x64', () => {
    for (const [w, h] of [
      [64, 64],
      [1000, 750],
      [7, 300],
      [3, 2],
    ]) {
      const white = preprocess(solid(w, h, [255, 255, 255, 255]));
      expect(white.length).toBe(INPUT_SIZE * INPUT_SIZE);
      for (const v of white) expect(v).toBeCloseTo(1, 6);
      const black = preprocess(solid(w, h, [0, 0, 0, 255]));
      for (const v of black) expect(v).toBeCloseTo(0, 6);
    }
  });

  it('uses Rec.601 luma', () => {
    const red = preprocess(solid(64, 64, [255, 0, 0, 255]));
    expect(red[0]).toBeCloseTo(0.299, 5);
    const green = preprocess(solid(10, 10, [0, 255, 0, 255]));
    expect(green[100]).toBeCloseTo(0.587, 5);
    const blue = preprocess(solid(128, 128, [0, 0, 255, 255]));
    expect(blue[4095]).toBeCloseTo(0.114, 5);
  });

  it('composes transparent pixels onto white', () => {
    const clear = preprocess(solid(32, 32, [0, 0, 0, 0]));
    for (const v of clear) expect(v).toBeCloseTo(1, 6);
    const half = rgbaToGrey(solid(1, 1, [0, 0, 0, 128]));
    expect(half.data[0]).toBeCloseTo(127 / 255, 5);
  });

  it('averages exact areas when downscaling', () => {
    // 128x128 checkerboard of 2x2 blocks: every output pixel covers one black and one white block row.
    const w = 128;
    const grey = { width: w, height: w, data: new Float32Array(w * w) };
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) grey.data[y * w + x] = (x + y) % 2;
    const out = resizeArea(grey, 64, 64);
    for (const v of out.data) expect(v).toBeCloseTo(0.5, 6);
    // A fractional ratio: a 3-pixel row [0, 1, 0] to 2 pixels covers 1.5 pixels each.
    const frac = resizeArea({ width: 3, height: 1, data: Float32Array.from([0, 1, 0]) }, 2, 1);
    expect(Array.from(frac.data).map((v) => +v.toFixed(6))).toEqual([0.333333, 0.333333]);
  });

  it('keeps a white block exactly white inside and the mean brightness overall', () => {
    const img = solid(256, 256, [40, 40, 40, 255]);
    for (let y = 64; y < 128; y++) for (let x = 64; x < 128; x++) img.data.set([255, 255, 255, 255], (y * 256 + x) * 4);
    const input = preprocess(img);
    expect(input[20 * 64 + 20]).toBe(1);
    const meanIn = Array.from(input).reduce((a, b) => a + b, 0) / input.length;
    const expected = (40 / 255) * (1 - 1 / 16) + 1 / 16;
    expect(meanIn).toBeCloseTo(expected, 5);
  });

  it('equals the two-step grey-then-resize computation', () => {
    for (const [w, h] of [
      [64, 64],
      [333, 101],
      [40, 90],
      [1001, 999],
    ]) {
      const data = new Uint8Array(w * h * 4);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) % 256;
      const img = { width: w, height: h, data };
      const fused = preprocess(img);
      const twoStep = greyToInput(rgbaToGrey(img));
      for (let i = 0; i < fused.length; i++) expect(Math.abs(fused[i] - twoStep[i])).toBeLessThan(1e-5);
    }
  });

  it('rejects malformed pixel buffers', () => {
    expect(() => preprocess({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(RangeError);
    expect(() => preprocess({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(RangeError);
  });
});

describe('contract, verdicts and errors', () => {
  it('reads the anomaly column of prob', () => {
    expect(anomalyScores([0.9, 0.1, 0.2, 0.8])).toEqual([0.1, 0.8]);
    expect(() => anomalyScores([1, 2, 3])).toThrow();
  });
  it('flags at or above the threshold', () => {
    expect(verdictFromScore(0.5).flagged).toBe(true);
    expect(verdictFromScore(0.49).flagged).toBe(false);
    expect(verdictFromScore(0.7, 0.8)).toEqual({ flagged: false, score: 0.7, threshold: 0.8 });
  });
  it('maps errors to JSON without leaking unknown ones', () => {
    const known = toErrorBody(new BlankspotError('PAYLOAD_TOO_LARGE', 'too big'), 'r1');
    expect(known).toEqual({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE', message: 'too big', requestId: 'r1' } } });
    const unknown = toErrorBody(new Error('secret path /etc'));
    expect(unknown.status).toBe(500);
    expect(JSON.stringify(unknown.body)).not.toContain('secret');
  });
});
