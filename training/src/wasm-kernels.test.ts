import { describe, expect, it } from 'vitest';
import { tf, useBackend } from './backend.js';
import { NETWORKS, crossEntropy, forward, heatmapLossSum, initParams, paramsFromValues, type NetworkName } from './networks.js';
import { Rng } from './rng.js';

/** Relative L2 error of a against the reference b. */
function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
}

function randomValues(n: number, seed: string, lo = 0, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
}

async function onBackend<T>(name: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await useBackend(name);
  return fn();
}

/** Whole-network gradients of the cross-entropy for fixed weights and inputs. */
function networkGrads(net: NetworkName, weights: Record<string, Float32Array>, images: Float32Array, labels: Int32Array) {
  const spec = NETWORKS[net];
  const params = paramsFromValues(spec, weights);
  const n = labels.length;
  const { grads } = tf.variableGrads(() => {
    const x = tf.tensor4d(images, [n, 64, 64, 1]);
    const { logits, heatmapLogits } = forward(spec, params, x);
    const ce = crossEntropy(logits, tf.tensor1d(labels, 'int32'));
    if (!heatmapLogits) return ce;
    // A localiser's loss also runs through its heatmap: fixed coverage targets, every example weighted.
    const [, h, w] = heatmapLogits.shape;
    const coverage = tf.tensor3d(randomValues(n * h * w, 'coverage'), [n, h, w]);
    return tf.add(ce, heatmapLossSum(heatmapLogits, coverage, tf.ones([n]) as tf.Tensor1D)) as tf.Scalar;
  });
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(params)) {
    out[name] = grads[v.name].dataSync() as Float32Array;
  }
  tf.dispose(Object.values(grads));
  for (const v of Object.values(params)) v.dispose();
  return out;
}

/**
 * A convolution's input and filter gradients (of the sum of its squared outputs) on the wasm backend,
 * against the cpu backend's: within 1e-5, and not all zero.
 */
async function expectConvGradsMatch(
  conv: (x: tf.Tensor4D, f: tf.Tensor4D) => tf.Tensor,
  x: tf.Tensor4D,
  filter: Float32Array,
  filterShape: [number, number, number, number],
): Promise<void> {
  const xv = x.dataSync() as Float32Array;
  const run = () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv(a as tf.Tensor4D, b as tf.Tensor4D))));
    const [dx, df] = g([tf.tensor4d(xv, x.shape), tf.tensor4d(filter, filterShape)]);
    return [dx.dataSync() as Float32Array, df.dataSync() as Float32Array];
  };
  const [rx, rf] = await onBackend('cpu', run);
  const [wx, wf] = await onBackend('wasm', run);
  expect(Math.hypot(...rx)).toBeGreaterThan(0);
  expect(relError(wx, rx)).toBeLessThanOrEqual(1e-5);
  expect(relError(wf, rf)).toBeLessThanOrEqual(1e-5);
}

describe('wasm training kernels match the cpu backend', () => {
  // localiser-wide runs the same kernels as localiser (same-padded 5x5 convs, leaky ReLU, pools, heatmap); on
  // the cpu backend its reference gradient blocks a test worker for over a minute, so it is not repeated here.
  for (const net of ['cnn-relu', 'cnn-leaky', 'localiser'] as const) {
    for (const negativeBias of [false, true]) {
      it(`${net} whole-network gradients${negativeBias ? ' with all-negative pooling windows' : ''}`, async () => {
        await useBackend('cpu');
        const init = initParams(NETWORKS[net], `grad-${net}`);
        const weights: Record<string, Float32Array> = {};
        for (const [k, v] of Object.entries(init)) weights[k] = Float32Array.from(v.dataSync());
        for (const v of Object.values(init)) v.dispose();
        if (negativeBias) {
          // Every first-layer pre-activation negative: each pooling window holds only negatives.
          weights['conv1/bias'].fill(-3);
          weights['conv2/bias'].fill(-0.5);
        }
        const n = 6;
        const images = randomValues(n * 64 * 64, `img-${net}`);
        const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
        const ref = await onBackend('cpu', () => networkGrads(net, weights, images, labels));
        const got = await onBackend('wasm', () => networkGrads(net, weights, images, labels));
        // Run twice: XNNPACK caches operators by filter id, a stale cache would show here.
        const again = await onBackend('wasm', () => networkGrads(net, weights, images, labels));
        const overall = Math.hypot(...Object.values(ref).map((g) => Math.hypot(...g)));
        for (const name of Object.keys(ref)) {
          const norm = Math.hypot(...ref[name]);
          if (norm === 0) {
            // ReLU with all-negative inputs passes no gradient at all: the wasm kernels must agree.
            expect(Math.hypot(...got[name]), name).toBe(0);
            continue;
          }
          // Within 1e-4 of the parameter's own gradient; one under 1% of the whole network's (behind two leaky
          // slopes of 0.01: float32 sums in another order lose digits there, 1% measured at worst) within 3%, so
          // a gradient off by a tenth fails anywhere.
          const bound = norm / overall < 1e-2 ? 3e-2 : 1e-4;
          for (const g of [got[name], again[name]]) expect(relError(g, ref[name]), name).toBeLessThanOrEqual(bound);
        }
        // Leaky ReLU always passes gradient, also through the all-negative pooling windows.
        if (net !== 'cnn-relu') for (const name of Object.keys(ref)) expect(Math.hypot(...ref[name]), name).toBeGreaterThan(0);
      });
    }
  }

  const cases: Array<{ label: string; x: number[]; f: number[]; strides: number; pad: 'valid' | 'same' | number }> = [
    { label: 'valid stride 1', x: [3, 12, 12, 2], f: [5, 5, 2, 4], strides: 1, pad: 'valid' },
    { label: 'same stride 2', x: [2, 11, 9, 3], f: [3, 3, 3, 5], strides: 2, pad: 'same' },
    { label: 'numeric pad 1', x: [2, 8, 8, 1], f: [3, 3, 1, 2], strides: 1, pad: 1 },
  ];
  for (const c of cases) {
    it(`Conv2DBackpropFilter and Conv2DBackpropInput, ${c.label}`, async () => {
      const xv = randomValues(
        c.x.reduce((a, b) => a * b),
        `x-${c.label}`,
        -1,
        1,
      );
      const fv = randomValues(
        c.f.reduce((a, b) => a * b),
        `f-${c.label}`,
        -1,
        1,
      );
      await expectConvGradsMatch(
        (a, b) => tf.conv2d(a, b, c.strides, c.pad),
        tf.tensor4d(xv, c.x as [number, number, number, number]),
        fv,
        c.f as [number, number, number, number],
      );
    });
  }

  const depthwise: Array<{
    label: string;
    x: number[];
    k: number;
    strides: 1 | 2;
    pad: 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];
  }> = [
    { label: 'same stride 1', x: [2, 9, 9, 6], k: 3, strides: 1, pad: 'same' },
    { label: 'valid stride 2', x: [2, 10, 8, 4], k: 3, strides: 2, pad: 'valid' },
    // MobileNet's strided convs under Keras's padding: none before, one after.
    {
      label: "Keras's stride 2",
      x: [3, 8, 8, 5],
      k: 3,
      strides: 2,
      pad: [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
    },
  ];
  for (const c of depthwise) {
    it(`DepthwiseConv2dNativeBackpropInput and -Filter, ${c.label}`, async () => {
      const channels = c.x[3];
      const xv = randomValues(
        c.x.reduce((a, b) => a * b),
        `dx-${c.label}`,
        -1,
        1,
      );
      const fv = randomValues(c.k * c.k * channels, `df-${c.label}`, -1, 1);
      await expectConvGradsMatch(
        (a, b) => tf.depthwiseConv2d(a, b, c.strides, c.pad),
        tf.tensor4d(xv, c.x as [number, number, number, number]),
        fv,
        [c.k, c.k, channels, 1],
      );
    });
  }

  it('MaxPoolGrad routes to the first maximum, also in all-negative windows', async () => {
    const xv = randomValues(2 * 6 * 6 * 3, 'pool', -2, -1);
    xv[0] = xv[3]; // a tie inside one window: the first position wins
    const run = () =>
      tf
        .grad((a: tf.Tensor) =>
          tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), tf.reshape(tf.range(1, 2 * 3 * 3 * 3 + 1), [2, 3, 3, 3]))),
        )(tf.tensor4d(xv, [2, 6, 6, 3]))
        .dataSync() as Float32Array;
    const ref = await onBackend('cpu', run);
    const got = await onBackend('wasm', run);
    expect(Array.from(got)).toEqual(Array.from(ref));
    expect(ref.filter((v) => v !== 0).length).toBe(2 * 3 * 3 * 3);
  });
});
