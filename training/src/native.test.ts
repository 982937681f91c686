/**
 * The native TensorFlow backend (`npm run setup:native`, or @tensorflow/tfjs-node where its own
 * installer works): the same gradients as the reference backends and the same training curve.
 * Skipped where it is not installed; CI installs it, so there it must run.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { tf, useBackend, type BackendName } from './backend.js';
import { buildSplits } from './datasets/build.js';
import {
  NETWORKS,
  crossEntropySum,
  forward,
  heatmapLossSum,
  initParams,
  paramsFromValues,
  type NetworkName,
} from './networks.js';
import { Rng } from './rng.js';
import { RECIPES, stepThreads, train } from './train.js';
import { installNativeTrainingKernels } from './native-kernels.js';
import { NativeTrainingStep } from './native-step.js';
import { ParallelGradients, shardGradientTensors } from './parallel.js';
import { CONV_WEIGHT_GRADS, MATMUL_2D, POOL_GRAD_WITH_WORKSPACE, POOL_WITH_WORKSPACE, SOFTMAX_XENT } from './wasm-kernels.js';

function nativeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}
const installed = nativeInstalled();
if (!installed && process.env.CI) throw new Error('CI runs `npm run setup:native`: @tensorflow/tfjs-node should be here');

function randomValues(n: number, seed: string): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(0, 1));
}

/** Whole-network loss gradients (cross-entropy plus the heatmap loss for localisers) on one backend. */
async function gradsOn(backend: BackendName, net: NetworkName, weights: Record<string, Float32Array>, n: number) {
  await useBackend(backend, { threads: 2 });
  const spec = NETWORKS[net];
  const params = paramsFromValues(spec, weights);
  const images = randomValues(n * 64 * 64, `img-${net}`);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const { grads } = tf.variableGrads(() => {
    const { logits, heatmapLogits } = forward(spec, params, tf.tensor4d(images, [n, 64, 64, 1]));
    // The trainer's loss: on tensorflow its fused kernel (SparseSoftmaxCrossEntropyWithLogits), on cpu tfjs ops.
    const { sum, perExample } = crossEntropySum(logits, tf.tensor1d(labels, 'int32'));
    perExample.dispose();
    const ce = tf.div(sum, n) as tf.Scalar;
    if (!heatmapLogits) return ce;
    const [, h, w] = heatmapLogits.shape;
    const coverage = tf.tensor3d(randomValues(n * h * w, 'coverage'), [n, h, w]);
    return tf.add(ce, heatmapLossSum(heatmapLogits, coverage, tf.ones([n]) as tf.Tensor1D)) as tf.Scalar;
  });
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(params)) out[name] = Float32Array.from(grads[v.name].dataSync() as Float32Array);
  tf.dispose(Object.values(grads));
  for (const v of Object.values(params)) v.dispose();
  return out;
}

function initialWeights(net: NetworkName): Record<string, Float32Array> {
  const init = initParams(NETWORKS[net], `native-${net}`);
  const weights: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(init)) weights[k] = Float32Array.from(v.dataSync());
  for (const v of Object.values(init)) v.dispose();
  return weights;
}

describe.skipIf(!installed)('the native tensorflow backend', () => {
  it('is what useBackend("tensorflow") and "auto" start', async () => {
    expect(await useBackend('tensorflow')).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(await useBackend('auto')).toBe('tensorflow');
    // The dense layers' products, checked by every network's gradient test below.
    expect(tf.getKernel(MATMUL_2D, 'tensorflow')).toBeDefined();
  });

  // The cpu backend is the ground truth; localiser-wide's cpu gradient takes minutes, so it is checked
  // against wasm, whose kernels are themselves checked against cpu (wasm-kernels.test.ts).
  const cases: Array<[NetworkName, BackendName]> = [
    ['lr', 'cpu'],
    ['cnn-relu', 'cpu'],
    ['cnn-leaky', 'cpu'],
    ['localiser', 'cpu'],
    ['localiser-wide', 'wasm'],
  ];
  for (const [net, reference] of cases) {
    it(`${net} gradients match the ${reference} backend within 1e-4`, async () => {
      const weights = initialWeights(net);
      const ref = await gradsOn(reference, net, weights, 4);
      const got = await gradsOn('tensorflow', net, weights, 4);
      for (const name of Object.keys(ref)) {
        const norm = Math.hypot(...ref[name]);
        expect(norm, name).toBeGreaterThan(0);
        const err = Math.hypot(...got[name].map((g, i) => g - ref[name][i]));
        expect(err / norm, name).toBeLessThanOrEqual(1e-4);
      }
    }, 120_000);
  }

  it("runs the written-out training step with the tape's losses and gradients, for every network", async () => {
    await useBackend('tensorflow', { threads: 2 });
    const data = await buildSplits({
      sets: ['photos'],
      protocol: 'paper',
      seed: 'native-step',
      counts: { train: 48, val: 0, test: 0 },
    });
    const ex = data.train;
    // Rectangles nobody can see weigh 0 in the heatmap loss: some of each kind in the batch.
    for (let i = 0; i < ex.count; i += 3) ex.hidden[i] = 1;
    expect(ex.labels.filter((l) => l === 1).length).toBeGreaterThan(5);
    const indices = Array.from({ length: 20 }, (_, i) => i * 2);
    for (const net of ['lr', 'cnn-relu', 'cnn-leaky', 'localiser', 'localiser-wide', 'localiser-deep'] as const) {
      const spec = NETWORKS[net];
      const params = initParams(spec, `step-${net}`);
      const step = NativeTrainingStep.create(spec, params);
      expect(step, net).not.toBeNull();
      const tensors = tf.memory().numTensors;
      const tape = shardGradientTensors(spec, params, ex, indices);
      const written = shardGradientTensors(spec, params, ex, indices, step);
      expect(written.count).toBe(tape.count);
      expect(written.hits, net).toBe(tape.hits);
      expect(written.lossSum, net).toBeCloseTo(tape.lossSum, 4);
      spec.params.forEach((p, i) => {
        const ref = tape.grads[i].dataSync() as Float32Array;
        const got = written.grads[i].dataSync() as Float32Array;
        expect(written.grads[i].shape, `${net} ${p.name}`).toEqual(tape.grads[i].shape);
        const norm = Math.hypot(...ref);
        expect(norm, `${net} ${p.name}`).toBeGreaterThan(0);
        expect(Math.hypot(...got.map((g, j) => g - ref[j])) / norm, `${net} ${p.name}`).toBeLessThanOrEqual(1e-5);
      });
      tf.dispose([...tape.grads, ...written.grads]);
      // Nothing of the step is left behind but its few kept shape vectors.
      step!.dispose();
      expect(tf.memory().numTensors, net).toBe(tensors);
      for (const v of Object.values(params)) v.dispose();
    }
  }, 120_000);

  it("runs localiser-128's written-out step on 128x128 inputs with the tape's gradients", async () => {
    await useBackend('tensorflow', { threads: 2 });
    const { train: ex } = await buildSplits({
      sets: ['photos'],
      protocol: 'realistic',
      seed: 'native-step-128',
      counts: { train: 16, val: 0, test: 0 },
      inputSize: 128,
    });
    const spec = NETWORKS['localiser-128'];
    const params = initParams(spec, 'step-128');
    const step = NativeTrainingStep.create(spec, params);
    expect(step).not.toBeNull();
    const indices = Array.from({ length: 16 }, (_, i) => i);
    const tape = shardGradientTensors(spec, params, ex, indices);
    const written = shardGradientTensors(spec, params, ex, indices, step);
    expect(written.lossSum).toBeCloseTo(tape.lossSum, 4);
    spec.params.forEach((p, i) => {
      const ref = tape.grads[i].dataSync() as Float32Array;
      const got = written.grads[i].dataSync() as Float32Array;
      const norm = Math.hypot(...ref);
      expect(norm, p.name).toBeGreaterThan(0);
      expect(Math.hypot(...got.map((g, j) => g - ref[j])) / norm, p.name).toBeLessThanOrEqual(1e-5);
    });
    tf.dispose([...tape.grads, ...written.grads]);
    step!.dispose();
    for (const v of Object.values(params)) v.dispose();
  }, 120_000);

  it("splits a conv network's batch over worker threads, each with its own TensorFlow, to the same sums", async () => {
    await useBackend('tensorflow', { threads: 2 });
    expect(stepThreads(NETWORKS['cnn-leaky'], 'tensorflow', 2)).toBe(2);
    expect(stepThreads(NETWORKS.localiser, 'tensorflow', 2)).toBe(2);
    // lr's step is too small to share.
    expect(stepThreads(NETWORKS.lr, 'tensorflow', 2)).toBe(1);
    const data = await buildSplits({
      sets: ['photos'],
      protocol: 'paper',
      seed: 'native-workers',
      counts: { train: 40, val: 0, test: 0 },
    });
    const indices = Array.from({ length: 31 }, (_, i) => i);
    for (const net of ['cnn-leaky', 'localiser'] as const) {
      const spec = NETWORKS[net];
      const params = initParams(spec, `workers-${net}`);
      const one = shardGradientTensors(spec, params, data.train, indices, NativeTrainingStep.create(spec, params));
      const parallel = new ParallelGradients(spec, params, data.train, 2, 'tensorflow');
      try {
        const two = await parallel.compute(indices);
        expect(two.count).toBe(31);
        expect(two.hits).toBe(one.hits);
        expect(two.lossSum).toBeCloseTo(one.lossSum, 3);
        spec.params.forEach((p, i) => {
          const ref = one.grads[i].dataSync() as Float32Array;
          const err = Math.hypot(...two.grads[i].map((g, j) => g - ref[j])) / Math.hypot(...ref);
          expect(err, `${net} ${p.name}`).toBeLessThanOrEqual(1e-5);
        });
      } finally {
        await parallel.close();
        tf.dispose(one.grads);
        for (const v of Object.values(params)) v.dispose();
      }
    }
  }, 120_000);

  it("computes the loss and its gradient in TensorFlow's one op, as the cpu backend's tfjs ops do", async () => {
    const rng = new Rng('xent');
    // Logits up to +-40: the stable form matters (exp(40) overflows float32 in a naive softmax).
    const logits = Float32Array.from({ length: 2 * 16 }, () => rng.uniform(-40, 40));
    const labels = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 2);
    const on = async (backend: BackendName) => {
      await useBackend(backend);
      const z = tf.tensor2d(logits, [16, 2]);
      const y = tf.tensor1d(labels, 'int32');
      let losses: number[] = [];
      const dz = tf.grad((a: tf.Tensor) => {
        const { sum, perExample } = crossEntropySum(a as tf.Tensor2D, y);
        losses = Array.from(perExample.dataSync());
        perExample.dispose();
        return tf.mul(sum, 3);
      })(z);
      const out = { losses, dz: Array.from(dz.dataSync()) };
      tf.dispose([z, y, dz]);
      return out;
    };
    const ref = await on('cpu');
    const got = await on('tensorflow');
    expect(tf.getKernel(SOFTMAX_XENT, 'tensorflow')).toBeDefined();
    for (let i = 0; i < 16; i++) {
      const [a, b] = [logits[2 * i], logits[2 * i + 1]];
      const m = Math.max(a, b);
      const expected = m + Math.log(Math.exp(a - m) + Math.exp(b - m)) - (labels[i] === 1 ? b : a);
      expect(got.losses[i]).toBeCloseTo(expected, 4);
      expect(got.losses[i]).toBeCloseTo(ref.losses[i], 4);
    }
    // d(3 * sum)/dz = 3 (softmax - one-hot).
    got.dz.forEach((g, i) => expect(g).toBeCloseTo(ref.dz[i], 5));
    expect(Math.max(...got.dz.map(Math.abs))).toBeGreaterThan(2.9);
  });

  it('pools through oneDNN with the stock gradient, ties included', async () => {
    await useBackend('tensorflow', { threads: 2 });
    expect(installNativeTrainingKernels({ gpu: false }).oneDnnPooling).toBe(true);
    // Plateaus (equal values in a window, as conv outputs on a flat white background are), negative
    // windows and odd sides: the first maximum of each window takes the gradient on every backend.
    const [n, h, w, c] = [3, 9, 10, 4];
    const rng = new Rng('pool-ties');
    const values = Float32Array.from({ length: n * h * w * c }, (_, i) => (i % 7 < 3 ? 0.5 : Math.round(rng.uniform(-3, 3))));
    const upstream = Float32Array.from({ length: n * 5 * 5 * c }, () => rng.uniform(-1, 1));
    const pooled = async (backend: BackendName, pad: 'valid' | 'same') => {
      await useBackend(backend);
      const x = tf.tensor4d(values, [n, h, w, c]);
      const y = tf.maxPool(x, 2, 2, pad);
      const dy = tf.tensor4d(upstream.slice(0, y.size), y.shape);
      const dx = tf.grad((a: tf.Tensor) => tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, pad), dy))(x);
      const out = { y: Array.from(y.dataSync()), dx: Array.from(dx.dataSync()) };
      tf.dispose([x, y, dy, dx]);
      return out;
    };
    for (const pad of ['valid', 'same'] as const) {
      const ref = await pooled('cpu', pad);
      const got = await pooled('tensorflow', pad);
      expect(got.y).toEqual(ref.y);
      expect(got.dx).toEqual(ref.dx);
    }
  });

  it('convolves through oneDNN with bias and (leaky) ReLU fused, as the cpu backend does in three ops', async () => {
    await useBackend('tensorflow', { threads: 2 });
    // The fused convolution needs the binding's list attributes, which setup:native patches in.
    expect(installNativeTrainingKernels({ gpu: false }).oneDnnConv).toBe(true);
    expect(tf.getKernel(CONV_WEIGHT_GRADS, 'tensorflow')).toBeDefined();
    const rng = new Rng('fused-conv');
    const x = Float32Array.from({ length: 2 * 11 * 9 * 3 }, () => rng.uniform(-1, 1));
    const w = Float32Array.from({ length: 3 * 3 * 3 * 4 }, () => rng.uniform(-1, 1));
    const bias = Float32Array.from({ length: 4 }, () => rng.uniform(-1, 1));
    const conv = async (backend: BackendName, activation: 'linear' | 'relu' | 'leakyrelu', pad: 'valid' | 'same') => {
      await useBackend(backend);
      const y = tf.fused.conv2d({
        x: tf.tensor4d(x, [2, 11, 9, 3]),
        filter: tf.tensor4d(w, [3, 3, 3, 4]),
        bias: tf.tensor1d(bias),
        strides: 1,
        pad,
        dilations: 1,
        activation,
        leakyreluAlpha: 0.01,
      });
      const out = { shape: y.shape, values: Array.from(y.dataSync()) };
      y.dispose();
      return out;
    };
    for (const activation of ['linear', 'relu', 'leakyrelu'] as const) {
      for (const pad of ['valid', 'same'] as const) {
        const ref = await conv('cpu', activation, pad);
        const got = await conv('tensorflow', activation, pad);
        expect(got.shape).toEqual(ref.shape);
        got.values.forEach((v, i) => expect(v, `${activation} ${pad} ${i}`).toBeCloseTo(ref.values[i], 5));
        // Negative outputs exist (linear) and are scaled (leaky): the activation really ran.
        if (activation !== 'relu') expect(Math.min(...got.values)).toBeLessThan(0);
      }
    }
  });

  it("keeps oneDNN's pooling workspace for the gradient, with the stock gradient's result", async () => {
    await useBackend('tensorflow', { threads: 2 });
    expect(tf.getKernel(POOL_WITH_WORKSPACE, 'tensorflow')).toBeDefined();
    const [n, h, w, c] = [2, 8, 10, 3];
    const rng = new Rng('pool-workspace');
    // Ties as well: a flat white background gives equal conv outputs in a window.
    const values = Float32Array.from({ length: n * h * w * c }, (_, i) => (i % 5 < 2 ? 0.25 : rng.uniform(-2, 2)));
    const upstream = Float32Array.from({ length: n * 4 * 5 * c }, () => rng.uniform(-1, 1));
    const x = tf.tensor4d(values, [n, h, w, c]);
    const dy = tf.tensor4d(upstream, [n, 4, 5, c]);
    const [y, workspace] = tf.engine().runKernel(POOL_WITH_WORKSPACE, { x }, { size: 2 }) as unknown as tf.Tensor[];
    const dx = tf.engine().runKernel(POOL_GRAD_WITH_WORKSPACE, { x, y, dy, workspace }, { size: 2 }) as tf.Tensor;
    const got = { y: Array.from(y.dataSync()), dx: Array.from(dx.dataSync()) };
    tf.dispose([x, dy, y, workspace, dx]);
    await useBackend('cpu');
    const xc = tf.tensor4d(values, [n, h, w, c]);
    const yc = tf.maxPool(xc, 2, 2, 'valid');
    const dxc = tf.grad((a: tf.Tensor) =>
      tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), tf.tensor4d(upstream, [n, 4, 5, c])),
    )(xc);
    expect(got.y).toEqual(Array.from(yc.dataSync()));
    expect(got.dx).toEqual(Array.from(dxc.dataSync()));
    tf.dispose([xc, yc, dxc]);
  });

  it('trains to the same accuracy per epoch as wasm on a fixed seed', async () => {
    const data = await buildSplits({
      sets: ['photos'],
      protocol: 'paper',
      seed: 'native-train',
      counts: { train: 1024, val: 512, test: 0 },
    });
    const curve = async (backend: BackendName) => {
      await useBackend(backend, { threads: 2 });
      const { epochs } = await train(data, { network: 'cnn-leaky', recipe: RECIPES.modern, seed: 3, epochs: 4, threads: 1 });
      return epochs.map((e) => e.valAccuracy);
    };
    const wasm = await curve('wasm');
    const native = await curve('tensorflow');
    // Learning, not just agreeing: the last epoch beats chance clearly on both.
    expect(wasm.at(-1)!).toBeGreaterThan(0.6);
    // Same seed, same batches, same initial weights: only float rounding differs, so within a few examples.
    native.forEach((acc, i) => expect(Math.abs(acc - wasm[i]), `epoch ${i + 1}`).toBeLessThanOrEqual(0.03));
  }, 300_000);
});
