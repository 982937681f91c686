import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findModel, parseManifest, preprocess, verifyModelBytes } from '@blankspot/core';
import {
  NETWORK_NAMES,
  NETWORKS,
  buildSplits,
  loadCheckpoint,
  localises,
  runTraining,
  useBackend,
  type NetworkName,
  type Splits,
} from '@blankspot/training';
import { PARITY_TOLERANCE, exportCheckpoint, onnxOutputs, probeInputs, tfjsOutputs, viewScores } from './export.js';
import onnxProto from 'onnx-proto';
import { denseToGemmB, hwioToOihw, readOnnxMetadata, roundedToFloat16 } from './onnx-graph.js';
import { publishModel } from './models.js';
import { catalogueScores, readCatalogue } from './catalogue.js';

const PHOTOS_DIR = fileURLToPath(new URL('../../data/photos/natural', import.meta.url));
const SHIPPED_CHECKPOINT = fileURLToPath(
  new URL('../../reports/runs/shipped-upload-128-7/upload/photos+products/localiser-128-modern-framed', import.meta.url),
);
const CHECK_SCRIPT = fileURLToPath(new URL('../scripts/check_onnx.py', import.meta.url));
let dir: string;
let data: Splits;
let probe: Float32Array;
/** For networks of another input side (localiser-128): rectangles pasted at the photo's resolution, at that side. */
let wide: { data: Splits; probe: Float32Array };

beforeAll(async () => {
  await useBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'blankspot-export-'));
  data = await buildSplits({
    sets: ['binary', 'photos'],
    protocol: 'paper',
    seed: 'export',
    counts: { train: 256, val: 64, test: 64 },
  });
  probe = await probeInputs();
  wide = {
    data: await buildSplits({
      sets: ['binary', 'photos'],
      protocol: 'realistic',
      seed: 'export',
      counts: { train: 128, val: 32, test: 32 },
      inputSize: 128,
    }),
    probe: await probeInputs(64, 16, 128),
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Each network trained once, for whichever tests need it first: every test asks for the runs it uses, so
 * none depends on another having run (a test alone, `-t`, trains what it needs).
 */
const trainedRuns = new Map<NetworkName, Promise<string>>();
function trainedRun(network: NetworkName): Promise<string> {
  let run = trainedRuns.get(network);
  if (run == null) {
    const own = NETWORKS[network].inputSize === 64 ? null : wide;
    run = runTraining(
      own?.data ?? data,
      {
        network,
        recipe: 'modern',
        protocol: own ? 'realistic' : 'paper',
        data: 'binary+photos',
        seed: 3,
        counts: own ? { train: 128, val: 32, test: 32 } : { train: 256, val: 64, test: 64 },
        backend: 'wasm',
        epochs: 1,
      },
      join(dir, 'runs'),
    ).then((r) => r.dir);
    trainedRuns.set(network, run);
  }
  return run;
}

/** A catalogue as `eval:uploads --compose-only` writes one (JPEG files and labels.csv), written once into its own folder. */
let catalogueDir: Promise<string> | null = null;
function photoCatalogue(): Promise<string> {
  catalogueDir ??= (async () => {
    const catalogue = join(dir, 'catalogue');
    await mkdir(catalogue, { recursive: true });
    const photos = (await readdir(PHOTOS_DIR)).sort().slice(0, 24);
    const rows = ['file,kind,damaged,x,y,width,height'];
    for (const [i, name] of photos.entries()) {
      const damaged = i % 2 === 1;
      const kind = i < 20 ? 'product' : 'natural';
      let image = sharp(join(PHOTOS_DIR, name)).resize(640, 480, { fit: 'fill' }).flatten({ background: '#fff' });
      if (damaged) {
        const square = await sharp({ create: { width: 200, height: 160, channels: 3, background: '#fff' } })
          .png()
          .toBuffer();
        image = sharp(await image.png().toBuffer()).composite([{ input: square, left: 220, top: 160 }]);
      }
      await image.jpeg({ quality: 90 }).toFile(join(catalogue, `${kind}-${i}.jpg`));
      rows.push(damaged ? `${kind}-${i}.jpg,${kind},1,220,160,200,160` : `${kind}-${i}.jpg,${kind},0,,,,`);
    }
    await writeFile(join(catalogue, 'labels.csv'), rows.join('\n') + '\n');
    return catalogue;
  })();
  return catalogueDir;
}

async function pythonHas(modules: string[]): Promise<boolean> {
  try {
    await promisify(execFile)('/usr/bin/python3', ['-c', `import ${modules.join(', ')}`]);
    return true;
  } catch {
    return false;
  }
}

describe('layout conversions', () => {
  it('moves HWIO conv weights to OIHW', () => {
    // kh=1, kw=2, ci=2, co=3: value = h*1000 + w*100 + i*10 + o
    const w = new Float32Array(12);
    for (let x = 0; x < 2; x++)
      for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) w[(x * 2 + i) * 3 + o] = x * 100 + i * 10 + o;
    const out = hwioToOihw(w, [1, 2, 2, 3]);
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 2; i++) for (let x = 0; x < 2; x++) expect(out[(o * 2 + i) * 2 + x]).toBe(x * 100 + i * 10 + o);
  });
  it('reorders dense weights from NHWC to NCHW flattening and transposes them for Gemm transB=1', () => {
    const [C, H, W, K] = [2, 2, 3, 2];
    const w = new Float32Array(C * H * W * K);
    for (let h = 0; h < H; h++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < C; c++)
          for (let k = 0; k < K; k++) w[((h * W + x) * C + c) * K + k] = c * 1000 + h * 100 + x * 10 + k;
    const b = denseToGemmB(w, [C * H * W, K], [C, H, W]);
    for (let k = 0; k < K; k++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let x = 0; x < W; x++) expect(b[k * C * H * W + (c * H + h) * W + x]).toBe(c * 1000 + h * 100 + x * 10 + k);
    expect(() => denseToGemmB(w, [C * H * W, K], [3, 3, 3])).toThrow();
  });
});

/**
 * onnx.checker and OpenCV's DNN module on an exported file: OpenCV's outputs on `inputs` against `expected`.
 * It needs Debian's python3-onnx and python3-opencv (the README's test set-up; .ci/run installs them):
 * without them it fails rather than passing unchecked.
 */
async function openCvCheck(
  label: string,
  file: string,
  inputs: Float32Array,
  expected: Float32Array,
): Promise<{ checker: string; opset: number; opencv_max_abs_diff: number; count: number; outputs: string[] }> {
  if (!(await pythonHas(['onnx', 'cv2', 'numpy'])))
    throw new Error('the onnx.checker / OpenCV check needs: apt-get install python3-onnx python3-opencv python3-numpy');
  const inputsFile = join(dir, `${label}.in.f32`);
  const expectedFile = join(dir, `${label}.out.f32`);
  await writeFile(inputsFile, new Uint8Array(inputs.buffer, inputs.byteOffset, inputs.byteLength));
  await writeFile(expectedFile, new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength));
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [CHECK_SCRIPT, file, inputsFile, expectedFile, '1e-4']);
  const report = JSON.parse(stdout);
  expect(report.opencv_max_abs_diff).toBeLessThanOrEqual(1e-4);
  return report;
}

describe('export to ONNX', () => {
  for (const network of NETWORK_NAMES) {
    const side = NETWORKS[network].inputSize;
    it(`${network}: ONNX Runtime gives the trainer's probabilities on ${side === 64 ? 256 : 80} ${side}x${side} inputs, and OpenCV agrees`, async () => {
      const own = side === 64 ? null : wide;
      const inputs = own?.probe ?? probe;
      const ckpt = await trainedRun(network);
      const out = join(dir, 'models', `${network}.onnx`);
      const result = await exportCheckpoint(ckpt, out, { name: network, version: '0.0.1', probe: inputs });
      expect(result.probeCount).toBeGreaterThanOrEqual(own ? 80 : 256);
      expect(result.inputSize).toBe(side);
      expect(result.maxAbsDiff).toBeLessThanOrEqual(PARITY_TOLERANCE);

      // From the file on disk, independently of the exporter's own check.
      const { values } = await loadCheckpoint(ckpt);
      const expected = tfjsOutputs(NETWORKS[network], values, inputs);
      const got = await onnxOutputs(out, inputs, side);
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - expected[i]));
      expect(diff).toBeLessThanOrEqual(1e-5);
      // The probabilities are not trivially constant: the check means something.
      const n = inputs.length / (side * side);
      const scores = Array.from({ length: n }, (_, i) => got[2 * i + 1]);
      // A localiser's file has its heatmap too (16x16 per image), and the check covers it.
      const localiser = localises(NETWORKS[network]);
      expect(localiser).toBe(network.startsWith('localiser'));
      expect(got.length).toBe(localiser ? n * 2 + n * 256 : n * 2);
      expect(result.localises).toBe(localiser);
      expect(Math.max(...scores) - Math.min(...scores)).toBeGreaterThan(0.01);

      const md = readOnnxMetadata(await readFile(out));
      expect(md).toMatchObject({
        name: network,
        version: '0.0.1',
        network,
        recipe: 'modern',
        protocol: own ? 'realistic' : 'paper',
        data: 'binary+photos',
        input_size: String(side),
      });
      // The checkpoint's own validation accuracy, as its training run logged it.
      const { meta } = await loadCheckpoint(ckpt);
      expect(Number(md.validation_accuracy)).toBeCloseTo((meta.training.validation as { accuracy: number }).accuracy, 10);
      expect(md.preprocessing).toContain('Rec.601');
      // Pretrained layers say where they came from, licence included.
      if (NETWORKS[network].pretrained) expect(md.pretrained_from).toMatch(/nsfwjs 4\.4\.0 \(MIT/);
      else expect(md.pretrained_from).toBeUndefined();
      expect(Date.parse(md.trained_at)).not.toBeNaN();

      const report = await openCvCheck(network, out, inputs, expected);
      expect(report.outputs).toEqual(localiser ? ['prob', 'heatmap'] : ['prob']);
      expect(report.checker).toBe('ok');
      expect(report.opset).toBe(13);
      expect(report.count).toBe(own ? 80 : 256);
    });
  }

  it("stores the weights as float16 in about half the bytes: every runtime gives the rounded network's outputs", async () => {
    const network = 'localiser-128-objects-64';
    const spec = NETWORKS[network];
    const inputs = wide.probe;
    const ckpt = await trainedRun(network);
    const full = await exportCheckpoint(ckpt, join(dir, 'models', 'f32.onnx'), { probe: inputs });
    const out = join(dir, 'models', 'f16.onnx');
    const half = await exportCheckpoint(ckpt, out, { probe: inputs, weights: 'float16' });
    expect(half.bytes).toBeLessThan(0.55 * full.bytes);
    expect(half.maxAbsDiff).toBeLessThanOrEqual(PARITY_TOLERANCE);
    expect(half.metadata.weights).toMatch(/^float16/);

    // Every trained weight is stored as float16 (and nothing else is: the Resize scales, ReLU6's bounds stay float32).
    const graph = onnxProto.onnx.ModelProto.decode(await readFile(out)).graph!;
    const stored = graph.initializer!.filter((t) => t.dataType === onnxProto.onnx.TensorProto.DataType.FLOAT16);
    expect(stored.map((t) => t.name).sort()).toEqual(spec.params.map((p) => `${p.name}/float16`).sort());
    expect(graph.node!.filter((n) => n.opType === 'Cast')).toHaveLength(spec.params.length);

    // The file computes the trainer's network with its weights rounded to float16, and stays near the unrounded one.
    const { values } = await loadCheckpoint(ckpt);
    const rounded = tfjsOutputs(spec, roundedToFloat16(values), inputs);
    const got = await onnxOutputs(out, inputs, spec.inputSize);
    const unrounded = tfjsOutputs(spec, values, inputs);
    let diff = 0;
    let moved = 0;
    for (let i = 0; i < got.length; i++) {
      diff = Math.max(diff, Math.abs(got[i] - rounded[i]));
      moved = Math.max(moved, Math.abs(got[i] - unrounded[i]));
    }
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(1e-2);
    const report = await openCvCheck('f16', out, inputs, rounded);
    expect(report.checker).toBe('ok');
    expect(report.count).toBe(80);
  });

  it("--rescore scores the checkpoint again on its own test split with today's code", async () => {
    // A run whose data was built from its own seed, as `blankspot train` builds it.
    const counts = { train: 128, val: 32, test: 64 };
    const own = await buildSplits({ sets: ['binary', 'photos'], protocol: 'paper', seed: 'rescore', counts });
    const { dir: ckpt } = await runTraining(
      own,
      {
        network: 'localiser',
        recipe: 'modern',
        protocol: 'paper',
        data: 'binary+photos',
        seed: 'rescore',
        counts,
        backend: 'wasm',
        epochs: 1,
      },
      join(dir, 'rescore-runs'),
    );
    const trained = (await loadCheckpoint(ckpt)).meta.training.test as {
      accuracy: number;
      perSet: Record<string, { count: number }>;
      localisation?: { detected: number };
    };
    const out = join(dir, 'rescored.onnx');
    await exportCheckpoint(ckpt, out, { name: 'localiser', probe, rescore: true });
    const test = JSON.parse(readOnnxMetadata(await readFile(out)).test) as {
      accuracy: number;
      perSet: Record<string, { count: number; localisation?: unknown }>;
      localisation?: { detected: number };
      rescoredAt: string;
    };
    expect(Date.parse(test.rescoredAt)).not.toBeNaN();
    // The same test images (rebuilt from the run's seed), the same weights: the same accuracy.
    expect(test.accuracy).toBeCloseTo(trained.accuracy, 10);
    expect(Object.fromEntries(Object.entries(test.perSet).map(([k, v]) => [k, v.count]))).toEqual(
      Object.fromEntries(Object.entries(trained.perSet).map(([k, v]) => [k, v.count])),
    );
    // The same boxes too: as many rectangles found as when it was trained.
    expect(test.localisation?.detected).toBe(trained.localisation?.detected);
    expect(trained.localisation?.detected).toEqual(expect.any(Number));
  });

  it('publishes models into a manifest that loaders verify by sha256', async () => {
    const models = join(dir, 'published');
    await mkdir(models, { recursive: true });
    const ckpt = await trainedRun('cnn-leaky');
    const a = await exportCheckpoint(ckpt, join(models, 'cnn-leaky.onnx'), { name: 'cnn-leaky', probe });
    await publishModel(a, join(models, 'manifest.json'), true);
    const b = await exportCheckpoint(await trainedRun('lr'), join(models, 'lr.onnx'), {
      name: 'lr',
      probe,
    });
    await publishModel(b, join(models, 'manifest.json'), false);
    const manifest = parseManifest(JSON.parse(await readFile(join(models, 'manifest.json'), 'utf8')));
    expect(manifest.default).toBe('cnn-leaky');
    expect(manifest.models.map((m) => m.name)).toEqual(['cnn-leaky', 'lr']);
    const entry = findModel(manifest);
    expect(entry).toMatchObject({
      file: 'cnn-leaky.onnx',
      network: 'cnn-leaky',
      protocol: 'paper',
      data: 'binary+photos',
      size: a.bytes,
    });
    expect(entry.metrics.test?.perSet).toHaveProperty('photos');
    const bytes = new Uint8Array(await readFile(join(models, entry.file)));
    await expect(verifyModelBytes(entry, bytes)).resolves.toBeUndefined();
    const tampered = Uint8Array.from(bytes);
    tampered[100] ^= 1;
    await expect(verifyModelBytes(entry, tampered)).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
    const card = await readFile(join(models, 'cnn-leaky.md'), 'utf8');
    expect(card).toContain(entry.sha256);
  });

  it('chooses thresholds on a catalogue of real files, read as the API reads them', async () => {
    // Its own copy of the catalogue: the end of this test breaks its labels on purpose.
    const catalogue = join(dir, 'catalogue-thresholds');
    await cp(await photoCatalogue(), catalogue, { recursive: true });
    const ckpt = await trainedRun('cnn-leaky');
    const result = await exportCheckpoint(ckpt, join(dir, 'calibrated.onnx'), {
      probe,
      falseAlarmTarget: 0.1,
      operatingCatalogue: catalogue,
    });
    const op = result.operatingPoint!;
    // Chosen on the catalogue's clean products alone, counted from its labels (not its natural photos, not damage).
    const labels = (await readFile(join(catalogue, 'labels.csv'), 'utf8')).trim().split('\n').slice(1);
    const cleanProducts = labels.filter((l) => l.split(',')[1] === 'product' && l.split(',')[2] === '0').length;
    expect(cleanProducts).toBe(10);
    expect(op.chosenOn).toBe(
      `${cleanProducts} clean product images of the catalogue ${basename(catalogue)} (real files, read as the API reads them)`,
    );
    // Scored again independently: sharp's decoded pixels, core's preprocess, ONNX Runtime.
    const bytes = new Uint8Array(await readFile(join(dir, 'calibrated.onnx')));
    const score = async (file: string) => {
      const { data, info } = await sharp(join(catalogue, file)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const input = preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) });
      return (await onnxOutputs(bytes, input))[1];
    };
    const clean: number[] = [];
    const damagedScores: number[] = [];
    for (let i = 0; i < 20; i++) (i % 2 ? damagedScores : clean).push(await score(`product-${i}.jpg`));
    for (const s of ['high', 'balanced', 'low'] as const) {
      const t = op.thresholds[s];
      // At most the target's share of the clean products flagged (one image of slack: the API reads
      // large JPEGs from their DCT blocks, not from decoded pixels).
      expect(clean.filter((v) => v >= t).length).toBeLessThanOrEqual(Math.floor(op.falseAlarmTargets[s] * 10) + 1);
      expect(op.falseAlarms[s]).toBeLessThanOrEqual(op.falseAlarmTargets[s]);
      expect(Math.abs(op.recall[s] - damagedScores.filter((v) => v >= t).length / 10)).toBeLessThanOrEqual(0.1);
    }
    expect(op.thresholds.low).toBeGreaterThanOrEqual(op.thresholds.balanced);
    expect(op.thresholds.balanced).toBeGreaterThanOrEqual(op.thresholds.high);
    // Not the generator's validation split: its own choice differs.
    const own = await exportCheckpoint(ckpt, join(dir, 'own.onnx'), { probe, falseAlarmTarget: 0.1 });
    expect(own.operatingPoint!.chosenOn).toMatch(/validation split/);

    await writeFile(join(catalogue, 'labels.csv'), 'file,kind\nproduct-0.jpg,product\n');
    await expect(readCatalogue(catalogue)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it("exports a closer look (closerLook): an input of any side, thresholds chosen on the higher of the two looks' scores", async () => {
    const catalogue = await photoCatalogue();
    const files = (await readdir(catalogue)).filter((f) => f.endsWith('.jpg'));
    const index = (f: string) => Number(/-(\d+)\.jpg$/.exec(f)![1]);
    const ckpt = await trainedRun('localiser-128');
    // A start below any score: every photo gets the closer look, so its score is the higher of the two.
    const closerLook = { inputSize: 256, above: 1e-9 };
    const out = join(dir, 'zoomed.onnx');
    const result = await exportCheckpoint(ckpt, out, {
      probe: wide.probe,
      falseAlarmTarget: 0.1,
      operatingCatalogue: catalogue,
      closerLook,
    });
    expect(result.closerLook).toEqual(closerLook);
    // Its contract says so too, for teams reading the file's metadata rather than the manifest.
    expect(result.metadata.contract).toContain('float32 [N,1,H,W] (128x128; 256x256 for the closer look)');
    expect(result.metadata.trained_side).toBeUndefined();
    // The file takes 256x256 inputs (a 32x32 heatmap) as well as 128x128 ones (16x16).
    const inputAt = (file: string, side: number) =>
      sharp(join(catalogue, file))
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true })
        .then(({ data, info }) => preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) }, side));
    const score = async (file: string) => {
      const near = await onnxOutputs(out, await inputAt(file, 256), 256);
      expect(near.length).toBe(2 + 32 * 32);
      const first = await onnxOutputs(out, await inputAt(file, 128), 128);
      expect(first.length).toBe(2 + 16 * 16);
      return Math.max(first[1], near[1]);
    };
    const clean: number[] = [];
    const damaged: number[] = [];
    for (const f of files.filter((f) => f.startsWith('product'))) (index(f) % 2 ? damaged : clean).push(await score(f));
    const op = result.operatingPoint!;
    for (const s of ['high', 'balanced', 'low'] as const) {
      const t = op.thresholds[s];
      expect(clean.filter((v) => v >= t).length).toBeLessThanOrEqual(Math.floor(op.falseAlarmTargets[s] * clean.length) + 1);
      expect(Math.abs(op.recall[s] - damaged.filter((v) => v >= t).length / damaged.length)).toBeLessThanOrEqual(0.1);
    }
    // A closer look on views of its own (closerLook.views): the catalogue's scores take the second look on them.
    const bytes = new Uint8Array(await readFile(out));
    const mirrored = await catalogueScores(bytes, catalogue, result.framing, 'single', 128, { ...closerLook, views: 'mirror' });
    const plain = await catalogueScores(bytes, catalogue, result.framing, 'single', 128, closerLook);
    expect(mirrored.some((r, i) => Math.abs(r.score - plain[i].score) > 1e-4)).toBe(true);
    for (const row of mirrored.filter((r) => r.kind === 'product').slice(0, 6)) {
      const first = (await onnxOutputs(out, await inputAt(row.file, 128), 128))[1];
      const near = (await viewScores(bytes, await inputAt(row.file, 256), 'mirror', 256))[0];
      expect(row.score).toBeCloseTo(Math.max(first, near), 5);
    }
    // Refused: a closer look no larger than the input, thresholds for it from a generated split, a closer look starting above them.
    await expect(
      exportCheckpoint(ckpt, out, { probe: wide.probe, closerLook: { inputSize: 128, above: 0.2 } }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(exportCheckpoint(ckpt, out, { probe: wide.probe, falseAlarmTarget: 0.1, closerLook })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('--operating-catalogue'),
    });
    await expect(
      exportCheckpoint(ckpt, out, {
        probe: wide.probe,
        falseAlarmTarget: 0.1,
        operatingCatalogue: catalogue,
        closerLook: { ...closerLook, above: 0.999999 },
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('--closer-look-above') });
    // Weights trained at the closer look's side (`blankspot train --side 256`) say so in the file and its card.
    const atZoom = join(dir, 'trained-at-256');
    await mkdir(atZoom, { recursive: true });
    const meta = JSON.parse(await readFile(join(ckpt, 'model.json'), 'utf8'));
    await writeFile(join(atZoom, 'model.json'), JSON.stringify({ ...meta, training: { ...meta.training, side: 256 } }));
    await writeFile(join(atZoom, 'weights.bin'), await readFile(join(ckpt, 'weights.bin')));
    const trained = await exportCheckpoint(atZoom, join(dir, 'models-at-256', 'at256.onnx'), {
      probe: wide.probe,
      closerLook,
      name: 'at256',
    });
    expect(trained.metadata.trained_side).toBe('256');
    expect(trained.inputSize).toBe(128);
    await publishModel(trained, join(dir, 'models-at-256', 'manifest.json'), true);
    const card = await readFile(join(dir, 'models-at-256', 'at256.md'), 'utf8');
    expect(card).toContain('[N,1,H,W] (trained on 256x256, run on 128x128 and 256x256)');
  });

  it('calibrates the score on a catalogue: Platt scaling in the graph, the same verdicts, a card with its reliability', async () => {
    const catalogue = await photoCatalogue();
    // The shipped default's checkpoint: a model that ranks damage above clean photos, as calibration needs.
    const ckpt = SHIPPED_CHECKPOINT;
    const closerLook = { inputSize: 256, above: 1e-6 };
    const common = { probe: wide.probe, falseAlarmTarget: 0.2, operatingCatalogue: catalogue, closerLook };
    const plain = await exportCheckpoint(ckpt, join(dir, 'plain-128.onnx'), common);
    const models = join(dir, 'models-calibrated');
    const result = await exportCheckpoint(ckpt, join(models, 'cal.onnx'), { ...common, calibrate: true, name: 'cal' });
    const c = result.calibration!;
    expect(c.scale).toBeGreaterThan(0);
    expect(c.fittedOn).toBe(`20 product images of the catalogue ${basename(catalogue)}`);
    expect(result.metadata.calibration).toContain(`softmax(0, ${c.scale} z + ${c.shift})`);
    // Every catalogue photo's score is the plain file's, calibrated; the heatmap is the trained one.
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    const products = (await readCatalogue(catalogue)).filter((r) => r.kind === 'product');
    let plainLoss = 0;
    let calibratedLoss = 0;
    for (const row of products) {
      const { data: px, info } = await sharp(join(catalogue, row.file)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const input = preprocess({ width: info.width, height: info.height, data: new Uint8Array(px) }, 128);
      const before = await onnxOutputs(plain.path, input, 128);
      const after = await onnxOutputs(result.path, input, 128);
      const z = Math.log(before[1] / before[0]);
      expect(after[1]).toBeCloseTo(sigmoid(c.scale * z + c.shift), 5);
      expect(Array.from(after.subarray(2))).toEqual(Array.from(before.subarray(2)));
      // Platt's targets: 11/12 for the 10 damaged, 1/12 for the 10 clean (no separable set fits at infinity).
      const target = row.damaged ? 11 / 12 : 1 / 12;
      const nll = (p: number) => -(target * Math.log(p) + (1 - target) * Math.log(1 - p));
      plainLoss += nll(before[1]);
      calibratedLoss += nll(after[1]);
    }
    // Fitted to these photos: their log loss against Platt's targets can only fall.
    expect(calibratedLoss).toBeLessThan(plainLoss);
    expect(c.after.bins.reduce((n, b) => n + b.count, 0)).toBe(20);
    // The closer look starts at the same photos, and thresholds chosen by the same rule give the same verdicts.
    expect(result.closerLook!.above).toBeCloseTo(sigmoid(c.scale * Math.log(1e-6 / (1 - 1e-6)) + c.shift), 5);
    expect(result.operatingPoint!.falseAlarms).toEqual(plain.operatingPoint!.falseAlarms);
    expect(result.operatingPoint!.recall).toEqual(plain.operatingPoint!.recall);
    // Published: the manifest says how it was calibrated, the card shows the reliability table and its figure.
    const manifest = await publishModel(result, join(models, 'manifest.json'), true);
    expect(manifest.models[0].calibration).toEqual({
      method: 'platt',
      scale: c.scale,
      shift: c.shift,
      fittedOn: c.fittedOn,
      ece: c.after.ece,
      eceBefore: c.before.ece,
    });
    const card = await readFile(join(models, 'cal.md'), 'utf8');
    expect(card).toContain('## Calibration');
    expect(card).toContain('![reliability](cal-reliability.svg)');
    expect(await readFile(join(models, 'cal-reliability.svg'), 'utf8')).toMatch(/^<svg[\s\S]*calibrated[\s\S]*<\/svg>$/);
    // Refused: calibration without a catalogue, and on a network without a heatmap.
    await expect(exportCheckpoint(ckpt, join(dir, 'x.onnx'), { probe: wide.probe, calibrate: true })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      exportCheckpoint(await trainedRun('cnn-leaky'), join(dir, 'y.onnx'), {
        probe,
        falseAlarmTarget: 0.2,
        operatingCatalogue: catalogue,
        calibrate: true,
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('localiser') });
  });

  it('refuses an unknown or corrupt checkpoint clearly', async () => {
    await expect(exportCheckpoint(join(dir, 'missing'), join(dir, 'x.onnx'))).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
    const broken = join(dir, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(
      join(broken, 'model.json'),
      JSON.stringify({ format: 'blankspot-checkpoint', version: 1, network: 'resnet', params: [] }),
    );
    await expect(exportCheckpoint(broken, join(dir, 'x.onnx'))).rejects.toThrow(/unknown network 'resnet'/);
  });
});
