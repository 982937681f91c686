import { describe, expect, it } from 'vitest';
import { INPUT_SIZE } from './contract.js';
import { flipInputs, mirrorInputs, runModel } from './pipeline/views.js';
import type { InferenceSession } from './pipeline/ports.js';

const S = INPUT_SIZE;

/**
 * A model written out in JS (core runs no ONNX Runtime): p = sigmoid(4 * (mean of the left half - mean
 * of the right half)), heatmap = the input averaged over 4x4 cells plus column/100. Asymmetric on
 * purpose, so a mirror view scores differently; the edge tests run the same through the real ONNX model.
 */
const leftHeavy: InferenceSession = {
  async run(input, n) {
    const prob = new Float32Array(2 * n);
    const heat = new Float32Array(n * 16 * 16);
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const v = input[i * S * S + y * S + x];
          d += x < S / 2 ? v : -v;
          heat[i * 256 + (y >> 2) * 16 + (x >> 2)] += v / 16;
        }
      for (let c = 0; c < 256; c++) heat[i * 256 + c] += (c % 16) / 100;
      const p = 1 / (1 + Math.exp((-4 * d) / ((S * S) / 2)));
      prob[2 * i] = 1 - p;
      prob[2 * i + 1] = p;
    }
    return { prob, heatmap: { data: heat, height: 16, width: 16 } };
  },
  async release() {},
};

describe('model views', () => {
  it('mirrors each input of a batch left to right', () => {
    const input = Float32Array.from({ length: 2 * S * S }, (_, i) => i);
    const m = mirrorInputs(input, 2);
    expect(m[0]).toBe(S - 1);
    expect(m[S * S + 5 * S + 3]).toBe(S * S + 5 * S + S - 1 - 3);
    expect(mirrorInputs(m, 2)).toEqual(input);
  });

  it('averages the logits of the two views and their heatmaps, the mirror flipped back', async () => {
    // Two inputs: bright on the left, and a gradient.
    const input = new Float32Array(2 * S * S);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        input[y * S + x] = x < 20 ? 1 : 0.1;
        input[S * S + y * S + x] = x / S;
      }
    const single = await runModel(leftHeavy, input, 2, 'single');
    const both = await runModel(leftHeavy, input, 2, 'mirror');
    for (let i = 0; i < 2; i++) {
      // The mirror's left-right difference is the negative: the logits cancel, p = 1/2.
      expect(single.prob[2 * i + 1]).not.toBeCloseTo(0.5, 2);
      expect(both.prob[2 * i + 1]).toBeCloseTo(0.5, 6);
      expect(both.prob[2 * i] + both.prob[2 * i + 1]).toBeCloseTo(1, 6);
    }
    // The mirror view's heatmap flipped back shows the same content in the same cells; its column term
    // runs the other way, so each cell gets the content plus (column + 15 - column) / 200 = 0.075.
    const h = single.heatmap!.data;
    const hb = both.heatmap!.data;
    for (const c of [3 * 16 + 2, 3 * 16 + 13, 256 + 7 * 16, 256 + 9 * 16 + 15]) {
      expect(hb[c]).toBeCloseTo(h[c] - (c % 16) / 100 + 0.075, 6);
    }
  });

  it('flips each input top to bottom and both ways', () => {
    const input = Float32Array.from({ length: 2 * S * S }, (_, i) => i);
    const down = flipInputs(input, 2, false, true);
    expect(down[0]).toBe((S - 1) * S);
    expect(down[S * S + 5 * S + 3]).toBe(S * S + (S - 1 - 5) * S + 3);
    const turned = flipInputs(input, 2, true, true);
    expect(turned[S * S]).toBe(2 * S * S - 1);
    expect(flipInputs(turned, 2, true, true)).toEqual(input);
  });

  it('on four flips: the mean of four logits, each heatmap flipped back onto the input', async () => {
    const input = new Float32Array(S * S);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) input[y * S + x] = x < 20 && y < 40 ? 1 : 0.1;
    const single = await runModel(leftHeavy, input, 1, 'single');
    const four = await runModel(leftHeavy, input, 1, 'flips');
    // Two views are mirrored: their left-right differences cancel the other two's.
    expect(single.prob[1]).not.toBeCloseTo(0.5, 2);
    expect(four.prob[1]).toBeCloseTo(0.5, 6);
    // Content flipped back lands where it was; the column term averages to 0.075 as under `mirror`.
    const h = single.heatmap!.data;
    const hf = four.heatmap!.data;
    for (const c of [0, 2 * 16 + 3, 9 * 16 + 4, 12 * 16 + 14, 255]) expect(hf[c]).toBeCloseTo(h[c] - (c % 16) / 100 + 0.075, 6);
  });
});
