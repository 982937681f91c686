import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, useBackend } from './backend.js';
import { loadCheckpoint } from './checkpoint.js';
import { buildSplits, emptyExamples, type Splits } from './datasets/build.js';
import {
  NETWORKS,
  atSide,
  forward,
  initParams,
  paramsFromValues,
  predict,
  disposeParams,
  growValues,
  type NetworkName,
  type NetworkSpec,
} from './networks.js';
import { ParallelGradients, shardGradients } from './parallel.js';
import { MOBILENET_FILE, pretrainedValues } from './pretrained.js';
import { Rng } from './rng.js';
import { rebuildTestSplit, runTraining } from './run.js';

let dir: string;
beforeAll(async () => {
  await useBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'blankspot-train-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const counts = { train: 1536, val: 256, test: 256 };

/** A network's freshly initialised weights as plain arrays (what a checkpoint holds). */
function initialValues(spec: NetworkSpec, seed: string): Record<string, Float32Array> {
  const params = initParams(spec, seed);
  const values: Record<string, Float32Array> = {};
  for (const p of spec.params) values[p.name] = Float32Array.from(params[p.name].dataSync() as Float32Array);
  disposeParams(params);
  return values;
}

/** Two networks' probabilities on the same n random 128x128 inputs. */
async function predictionsOf(
  first: NetworkSpec,
  firstValues: Record<string, Float32Array>,
  second: NetworkSpec,
  secondValues: Record<string, Float32Array>,
  seed: string,
  n: number,
): Promise<[Float32Array, Float32Array]> {
  const rng = new Rng(seed);
  const input = tf.tensor4d(
    Float32Array.from({ length: n * 128 * 128 }, () => rng.float()),
    [n, 128, 128, 1],
  );
  const [a, b] = [paramsFromValues(first, firstValues), paramsFromValues(second, secondValues)];
  const [pa, pb] = [predict(first, a, input), predict(second, b, input)];
  try {
    return [(await pa.data()) as Float32Array, (await pb.data()) as Float32Array];
  } finally {
    tf.dispose([input, pa, pb]);
    disposeParams(a);
    disposeParams(b);
  }
}

/**
 * One epoch of `first` from its own start on tiny 128x128 solid-colour data, then one of `second` started
 * from it: the two checkpoints' values.
 */
async function trainedInTurn(
  first: NetworkName,
  second: NetworkName,
  seed: number,
  train: number,
  tag: string,
): Promise<[Record<string, Float32Array>, Record<string, Float32Array>]> {
  const counts = { train, val: train / 2, test: train / 2 };
  const run = { recipe: 'modern', data: 'solid', seed, counts, backend: 'wasm', epochs: 1, protocol: 'realistic' } as const;
  const data = await buildSplits({ sets: ['solid'], protocol: 'realistic', seed: `t-${tag}`, counts, inputSize: 128 });
  const { dir: a } = await runTraining(data, { ...run, network: first }, join(dir, `${tag}-a`));
  const { dir: b } = await runTraining(data, { ...run, network: second, initFrom: a }, join(dir, `${tag}-b`));
  return [(await loadCheckpoint(a)).values, (await loadCheckpoint(b)).values];
}

describe('the trainer', () => {
  for (const set of ['binary', 'solid'] as const) {
    let data: Splits;
    for (const network of ['cnn-relu', 'cnn-leaky'] as const) {
      it(`${network} reaches 100% validation accuracy on ${set} in a short run`, async () => {
        data ??= await buildSplits({ sets: [set], protocol: 'paper', seed: `t-${set}`, counts });
        const { dir: out, log } = await runTraining(
          data,
          { network, recipe: 'modern', protocol: 'paper', data: set, seed: 1, counts, backend: 'wasm', epochs: 8 },
          dir,
        );
        const last = log.epochs.at(-1)!;
        expect(last.valAccuracy).toBe(1);
        expect(log.test!.accuracy).toBeGreaterThanOrEqual(0.995);
        expect(log.epochs).toHaveLength(8);
        expect(last.trainLoss).toBeLessThan(log.epochs[0].trainLoss);
        expect(last.deadFraction).toBeGreaterThanOrEqual(0);
        expect(last.deadFraction).toBeLessThanOrEqual(1);
        // The checkpoint gives back the network that was logged.
        const ckpt = await loadCheckpoint(out);
        expect(ckpt.meta.network).toBe(network);
        expect((ckpt.meta.training.validation as { accuracy: number }).accuracy).toBe(1);
        const params = paramsFromValues(NETWORKS[network], ckpt.values);
        const idx = Array.from({ length: 64 }, (_, i) => i);
        const probs = tf.tidy(() =>
          predict(NETWORKS[network], params, tf.tensor4d(data.val.images.slice(0, 64 * 4096), [64, 64, 64, 1])).arraySync(),
        );
        probs.forEach((p, i) => expect(p[1] >= 0.5 ? 1 : 0).toBe(data.val.labels[idx[i]]));
        disposeParams(params);
      });
    }
  }

  it('localiser finds and places the square on solid images in a short run', async () => {
    const data = await buildSplits({ sets: ['solid'], protocol: 'paper', seed: 't-localiser', counts });
    const { log } = await runTraining(
      data,
      { network: 'localiser', recipe: 'modern', protocol: 'paper', data: 'solid', seed: 1, counts, backend: 'wasm', epochs: 8 },
      dir,
    );
    expect(log.test!.accuracy).toBeGreaterThanOrEqual(0.98);
    const loc = log.test!.localisation!;
    // Every visible square of the test set is judged. Eight short epochs already place most boxes
    // tightly (a box in the wrong place scores 0; the shipped model's figures are in models/).
    expect(loc.detected).toBeGreaterThan(100);
    expect(loc.iouAtLeast07).toBeGreaterThanOrEqual(0.6);
    expect(loc.meanIou).toBeGreaterThan(0.65);
    expect(log.test!.perSet.solid.localisation).toEqual(loc);
  });

  it("fine-tunes from a checkpoint: starts from its weights, refuses another network's", async () => {
    const small = { train: 128, val: 64, test: 64 };
    const data = await buildSplits({ sets: ['binary'], protocol: 'paper', seed: 't-init', counts: small });
    const base = {
      recipe: 'modern',
      protocol: 'paper',
      data: 'binary',
      seed: 1,
      counts: small,
      backend: 'wasm',
      epochs: 1,
    } as const;
    const { dir: first } = await runTraining(data, { ...base, network: 'cnn-leaky' }, join(dir, 'init-a'));
    // A learning rate too small to move anything: the fine-tuned weights are the starting checkpoint's.
    const { dir: tuned } = await runTraining(
      data,
      { ...base, network: 'cnn-leaky', initFrom: first, learningRate: 1e-12 },
      join(dir, 'init-b'),
    );
    const [a, b] = await Promise.all([loadCheckpoint(first), loadCheckpoint(tuned)]);
    for (const name of Object.keys(a.values)) {
      let diff = 0;
      for (let i = 0; i < a.values[name].length; i++) diff = Math.max(diff, Math.abs(a.values[name][i] - b.values[name][i]));
      expect(diff, name).toBeLessThan(1e-6);
    }
    await expect(runTraining(data, { ...base, network: 'cnn-relu', initFrom: first }, join(dir, 'init-c'))).rejects.toThrow(
      /holds a cnn-leaky, not a cnn-relu/,
    );
  });

  it('grows localiser-deep from a localiser-wide: the same predictions at the start, then trains on', async () => {
    const wide = NETWORKS['localiser-wide'];
    const deep = NETWORKS['localiser-deep'];
    const growCounts = { train: 64, val: 64, test: 64 };
    const data = await buildSplits({
      sets: ['solid'],
      protocol: 'paper',
      seed: 't-grow',
      counts: growCounts,
    });
    const run = {
      recipe: 'modern',
      protocol: 'paper',
      data: 'solid',
      seed: 2,
      counts: growCounts,
      backend: 'wasm',
      epochs: 1,
    } as const;
    const { dir: first } = await runTraining(data, { ...run, network: 'localiser-wide' }, join(dir, 'grow-a'));
    const { values } = await loadCheckpoint(first);
    const grown = growValues(deep, values);
    expect(Object.keys(grown).length).toBe(deep.params.length);
    expect(grown['conv1/kernel']).toBe(values['conv1/kernel']);
    const [a, b] = [paramsFromValues(wide, values), paramsFromValues(deep, grown)];
    const input = tf.tensor4d(data.val.images, [data.val.count, 64, 64, 1]);
    const [pa, pb] = [predict(wide, a, input), predict(deep, b, input)];
    const [va, vb] = [await pa.data(), await pb.data()];
    let diff = 0;
    for (let i = 0; i < va.length; i++) diff = Math.max(diff, Math.abs(va[i] - vb[i]));
    // Only the leaky ReLU's negative slope, applied once more on each added layer, tells them apart.
    expect(diff).toBeLessThan(0.02);
    tf.dispose([input, pa, pb]);
    disposeParams(a);
    disposeParams(b);
    // The CLI's --init takes the smaller network's checkpoint and trains the deeper one from it.
    const { log } = await runTraining(data, { ...run, network: 'localiser-deep', initFrom: first }, join(dir, 'grow-b'));
    expect(log.epochs).toHaveLength(1);
    expect(() => growValues(NETWORKS['cnn-relu'], values)).toThrow(/cannot grow/);
  });

  it('grows localiser-128-deep from a localiser-128: the same predictions at the start', async () => {
    const [small, deep] = [NETWORKS['localiser-128'], NETWORKS['localiser-128-deep']];
    expect(deep.inputSize).toBe(128);
    const values = initialValues(small, 'grow-128-deep');
    const grown = growValues(deep, values);
    // No stem this time: the same input size, so every trained layer keeps its place.
    expect(grown['conv1/kernel']).toBe(values['conv1/kernel']);
    expect(grown['conv5/kernel']).toBe(values['conv5/kernel']);
    expect(Array.from(grown['conv7/kernel']).filter((v) => v !== 0)).toEqual(new Array<number>(32).fill(1));
    const [va, vb] = await predictionsOf(small, values, deep, grown, 'grow-128-deep-input', 4);
    for (let i = 0; i < va.length; i++) expect(Math.abs(vb[i] - va[i])).toBeLessThan(0.02);
  });

  it('grows localiser-128-objects from a localiser-128: the same outputs at the start; training leaves the pretrained stream as it came', async () => {
    const [small, objects] = [NETWORKS['localiser-128'], NETWORKS['localiser-128-objects']];
    const values = initialValues(small, 'grow-objects');
    const grown = growValues(objects, values);
    const frozen = objects.params.filter((p) => p.frozen).map((p) => p.name);
    expect(frozen).toHaveLength(36);
    expect(frozen.every((name) => name.startsWith('mobilenet/'))).toBe(true);
    for (const name of frozen)
      expect(grown[name]).toEqual(pretrainedValues(MOBILENET_FILE, name, objects.params.find((p) => p.name === name)!.shape));
    expect(grown['objects/heat/kernel'].every((v) => v === 0)).toBe(true);
    const rng = new Rng('grow-objects-input');
    const input = tf.tensor4d(
      Float32Array.from({ length: 4 * 128 * 128 }, () => rng.float()),
      [4, 128, 128, 1],
    );
    const [a, b] = [paramsFromValues(small, values), paramsFromValues(objects, grown)];
    const [fa, fb] = [forward(small, a, input), forward(objects, b, input)];
    const [la, lb, ha, hb] = await Promise.all([
      fa.logits.data(),
      fb.logits.data(),
      fa.heatmapLogits!.data(),
      fb.heatmapLogits!.data(),
    ]);
    for (let i = 0; i < la.length; i++) expect(lb[i]).toBeCloseTo(la[i], 5);
    for (let i = 0; i < ha.length; i++) expect(hb[i]).toBeCloseTo(ha[i], 5);
    tf.dispose([input, fa.logits, fb.logits, fa.heatmapLogits!, fb.heatmapLogits!, ...fa.activations, ...fb.activations]);
    disposeParams(a);
    disposeParams(b);

    const [before, after] = await trainedInTurn('localiser-128', 'localiser-128-objects', 4, 64, 'objects');
    for (const name of frozen) expect(after[name]).toEqual(grown[name]);
    const moved = (name: string, from: Float32Array) => after[name].some((v, i) => v !== from[i]);
    expect(moved('objects/heat/kernel', grown['objects/heat/kernel'])).toBe(true);
    expect(moved('conv1/kernel', before['conv1/kernel'])).toBe(true);
  });

  it('grows localiser-128-objects-64 from a localiser-128 (its stream on the input halved, upsampled back): the same outputs at the start', async () => {
    const [small, objects] = [NETWORKS['localiser-128'], NETWORKS['localiser-128-objects-64']];
    expect(objects.layers.map((l) => l.op)).toEqual(expect.arrayContaining(['avgPool', 'upsample', 'setAside']));
    const values = initialValues(small, 'grow-objects-64');
    const grown = growValues(objects, values);
    const [va, vb] = await predictionsOf(small, values, objects, grown, 'grow-objects-64-input', 2);
    for (let i = 0; i < va.length; i++) expect(vb[i]).toBeCloseTo(va[i], 5);
    // Its stream needs a side the pooling and the stride-8 stream both divide.
    expect(() => atSide(objects, 136)).toThrow(/multiples of 16/);
    expect(atSide(objects, 256).inputSize).toBe(256);
  });

  it('fine-tunes: localiser-128-objects-64-tuned starts as a trained localiser-128-objects-64 and training moves its stream too', async () => {
    const tuned = NETWORKS['localiser-128-objects-64-tuned'];
    expect(tuned.params.some((p) => p.frozen)).toBe(false);
    expect(tuned.params.map((p) => p.name)).toEqual(NETWORKS['localiser-128-objects-64'].params.map((p) => p.name));
    const [before, after] = await trainedInTurn('localiser-128-objects-64', 'localiser-128-objects-64-tuned', 5, 32, 'tuned');
    const stream = tuned.params.filter((p) => p.name.startsWith('mobilenet/')).map((p) => p.name);
    expect(stream).toHaveLength(36);
    // The frozen run left the stream as pretrained; the tuned one moved it.
    for (const name of stream)
      expect(before[name]).toEqual(pretrainedValues(MOBILENET_FILE, name, tuned.params.find((p) => p.name === name)!.shape));
    expect(stream.filter((name) => after[name].some((v, i) => v !== before[name][i])).length).toBeGreaterThan(30);
  });

  it('grows localiser-128 from a localiser-wide: the same scores on flat inputs, then trains on 128x128 data', async () => {
    const wide = NETWORKS['localiser-wide'];
    const big = NETWORKS['localiser-128'];
    expect(big.inputSize).toBe(128);
    const values: Record<string, Float32Array> = {};
    const params = initParams(wide, 'grow-128');
    for (const p of wide.params) values[p.name] = Float32Array.from(params[p.name].dataSync() as Float32Array);
    disposeParams(params);
    const grown = growValues(big, values);
    // The trained network's convs move one place on; its first conv reads the stem's channel 0.
    expect(grown['conv3/kernel']).toEqual(values['conv2/kernel']);
    expect(grown['heat/kernel']).toEqual(values['heat/kernel']);
    const [c2, c1] = [grown['conv2/kernel'], values['conv1/kernel']];
    for (let k = 0; k < 25; k++)
      for (let o = 0; o < 16; o++) {
        expect(c2[(k * 8 + 0) * 16 + o]).toBe(c1[k * 16 + o]);
        for (let c = 1; c < 8; c++) expect(c2[(k * 8 + c) * 16 + o]).toBe(0);
      }
    // On a flat grey the stem's box filter and pool pass the grey on: the same scores as the 64 network's.
    const [a, b] = [paramsFromValues(wide, values), paramsFromValues(big, grown)];
    const levels = [0, 0.3, 0.7, 1];
    const flat = (side: number) =>
      tf.tensor4d(
        levels.flatMap((v) => new Array<number>(side * side).fill(v)),
        [4, side, side, 1],
      );
    const [x64, x128] = [flat(64), flat(128)];
    const [pa, pb] = [predict(wide, a, x64), predict(big, b, x128)];
    const [va, vb] = [await pa.data(), await pb.data()];
    for (let i = 0; i < va.length; i++) expect(vb[i]).toBeCloseTo(va[i], 4);
    tf.dispose([x64, x128, pa, pb]);
    disposeParams(a);
    disposeParams(b);
    // Trained on 128x128 data (rectangles pasted at the photo's resolution), from a checkpoint of localiser-wide.
    const growCounts = { train: 64, val: 32, test: 32 };
    const small = await buildSplits({ sets: ['solid'], protocol: 'paper', seed: 't-grow-128', counts: growCounts });
    const run = { recipe: 'modern', data: 'solid', seed: 2, counts: growCounts, backend: 'wasm', epochs: 1 } as const;
    const { dir: first } = await runTraining(
      small,
      { ...run, protocol: 'paper', network: 'localiser-wide' },
      join(dir, 'grow-128-a'),
    );
    const data = await buildSplits({
      sets: ['solid'],
      protocol: 'realistic',
      seed: 't-grow-128',
      counts: growCounts,
      inputSize: 128,
    });
    expect(data.train.side).toBe(128);
    expect(data.train.images.length).toBe(64 * 128 * 128);
    const { log } = await runTraining(
      data,
      { ...run, protocol: 'realistic', network: 'localiser-128', initFrom: first },
      join(dir, 'grow-128-b'),
    );
    expect(log.epochs).toHaveLength(1);
    expect(Number.isFinite(log.epochs[0].trainLoss)).toBe(true);
    expect(log.test!.localisation).toBeDefined();
    // The paper protocol is 64x64 by definition.
    await expect(
      buildSplits({ sets: ['solid'], protocol: 'paper', seed: 1, counts: growCounts, inputSize: 128 }),
    ).rejects.toThrow(/64x64/);
  });

  it('trains a localiser at another side than its own (the closer look): on two threads, recorded in the run', async () => {
    const sideCounts = { train: 64, val: 32, test: 32 };
    const data = await buildSplits({
      sets: ['solid'],
      protocol: 'realistic',
      seed: 't-side',
      counts: sideCounts,
      inputSize: 128,
    });
    const run = {
      recipe: 'modern',
      protocol: 'realistic',
      data: 'solid',
      seed: 3,
      counts: sideCounts,
      backend: 'wasm',
      epochs: 1,
      threads: 2,
      network: 'localiser',
    } as const;
    // Its own side is 64: data of 128 is refused unless it is asked to train at 128.
    await expect(runTraining(data, run, join(dir, 'side-a'))).rejects.toThrow(/64x64 inputs; the data's are 128x128/);
    const { dir: at, log } = await runTraining(data, { ...run, side: 128 }, join(dir, 'side-b'));
    expect(at).toMatch(/localiser-modern-at128$/);
    expect(log.config.side).toBe(128);
    expect(Number.isFinite(log.epochs[0].trainLoss)).toBe(true);
    expect(log.test!.localisation).toBeDefined();
    const ckpt = await loadCheckpoint(at);
    expect(ckpt.meta.network).toBe('localiser');
    expect(ckpt.meta.training.side).toBe(128);
    const spec = atSide(NETWORKS.localiser, 128);
    const params = paramsFromValues(spec, ckpt.values);
    // The same weights on a 128 input: a 32x32 heatmap (16x16 at its own 64).
    const x = tf.tensor4d(data.test.images.slice(0, 2 * 128 * 128), [2, 128, 128, 1]);
    let heatmapShape: number[] = [];
    tf.tidy(() => {
      heatmapShape = forward(spec, params, x).heatmapLogits!.shape;
    });
    expect(heatmapShape).toEqual([2, 32, 32]);
    x.dispose();
    disposeParams(params);
    // Its test split is rebuilt at the side it trained at.
    expect((await rebuildTestSplit(log.config)).side).toBe(128);
    // Only fully convolutional networks take another side, and only multiples of their pooling.
    expect(() => atSide(NETWORKS['cnn-relu'], 128)).toThrow(/not fully convolutional/);
    expect(() => atSide(NETWORKS.localiser, 130)).toThrow(/multiples of 4/);
  });

  it('computes the same gradient on two threads as on one', async () => {
    const data = await buildSplits({ sets: ['photos'], protocol: 'paper', seed: 'par', counts: { train: 96, val: 0, test: 0 } });
    const spec = NETWORKS['cnn-leaky'];
    const params = initParams(spec, 5);
    const indices = Array.from({ length: 96 }, (_, i) => (i * 7) % 96);
    const single = shardGradients(spec, params, data.train, indices);
    const parallel = new ParallelGradients(spec, params, data.train, 2, 'wasm');
    const both = await parallel.compute(indices);
    await parallel.close();
    expect(both.count).toBe(96);
    expect(both.hits).toBe(single.hits);
    expect(both.lossSum).toBeCloseTo(single.lossSum, 3);
    both.grads.forEach((g, i) => {
      const ref = single.grads[i];
      let num = 0;
      let den = 0;
      for (let j = 0; j < g.length; j++) {
        num += (g[j] - ref[j]) ** 2;
        den += ref[j] ** 2;
      }
      expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
    });
    disposeParams(params);
  });

  it('gives worker threads every example of a set past 4 GiB (views are cloned with 32-bit lengths)', async () => {
    // 65,600 128x128 images: 4.3 GB of shared memory, of which only the batch's pages are ever touched.
    const side = 128;
    const pixels = side * side;
    const count = 65_600;
    const small = await buildSplits({
      sets: ['photos'],
      protocol: 'upload',
      seed: 'big',
      counts: { train: 8, val: 0, test: 0 },
      inputSize: side,
    });
    const big = emptyExamples(count, side, small.train.sets);
    expect(big.images.byteLength).toBeGreaterThan(2 ** 32);
    // The small set's photos at the far end (past 4 GiB), where a cut-short view reads black.
    const indices = Array.from({ length: 8 }, (_, i) => count - 8 + i);
    indices.forEach((j, i) => {
      big.images.set(small.train.images.subarray(i * pixels, (i + 1) * pixels), j * pixels);
      big.labels[j] = small.train.labels[i];
      big.boxes.set(small.train.boxes.subarray(i * 4, i * 4 + 4), j * 4);
    });
    const spec = NETWORKS['localiser-128'];
    const params = initParams(spec, 3);
    const single = shardGradients(spec, params, big, indices);
    const parallel = new ParallelGradients(spec, params, big, 2, tf.getBackend() as 'wasm');
    const both = await parallel.compute(indices);
    await parallel.close();
    expect(both.count).toBe(8);
    expect(both.lossSum).toBeCloseTo(single.lossSum, 3);
    disposeParams(params);
  });

  it('refuses missing or damaged checkpoints with a clear error', async () => {
    await expect(loadCheckpoint(join(dir, 'nope'))).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
    const bad = join(dir, 'bad');
    const data = await buildSplits({ sets: ['binary'], protocol: 'paper', seed: 1, counts: { train: 64, val: 16, test: 16 } });
    const { dir: good } = await runTraining(
      data,
      { network: 'lr', recipe: 'paper', protocol: 'paper', data: 'binary', seed: 1, counts, backend: 'wasm', epochs: 1 },
      bad,
    );
    await writeFile(join(good, 'weights.bin'), new Uint8Array(100));
    await expect(loadCheckpoint(good)).rejects.toThrow(/truncated|wrong shape/);
    await writeFile(join(good, 'model.json'), '{"format":"something else"}');
    await expect(loadCheckpoint(good)).rejects.toThrow(/not a blankspot checkpoint/);
  });
});
