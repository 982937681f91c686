/** A checkpoint to an ONNX file, verified against the TensorFlow.js network it came from. */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createNodeSession } from '@blankspot/runtime-node';
import {
  BlankspotError,
  anomalyScores,
  CONTENT_FRAMING_DESCRIPTION,
  INPUT_SIZE,
  MODEL_HEATMAP_NAME,
  MODEL_INPUT_NAME,
  MODEL_OUTPUT_NAME,
  preprocessingDescription,
  type Framing,
  type Views,
  type CloserLook,
  runModel,
  closerLookProblem,
} from '@blankspot/core';
import {
  NETWORKS,
  Rng,
  calibrated,
  fitPlatt,
  reliability,
  type Platt,
  type ReliabilityBin,
  activeBackend,
  buildSplits,
  buildSplitsCached,
  disposeParams,
  evaluate,
  quality,
  rebuildTestSplit,
  type DatasetName,
  splitScores,
  type RunConfig,
  loadCheckpoint,
  forward,
  localises,
  paramsFromValues,
  pretrainedSource,
  tf,
  useBackend,
  type NetworkSpec,
} from '@blankspot/training';
import { buildOnnxModel, roundedToFloat16, type WeightType } from './onnx-graph.js';
import { catalogueScores, operatingPointFromScores } from './catalogue.js';
import { operatingPointFor, type OperatingPoint } from './operating-point.js';

/** Values in n square inputs of a side. */
const countOf = (inputs: Float32Array, side: number) => inputs.length / (side * side);
const PRODUCER_VERSION = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')).version as string;

/** The largest difference allowed between ONNX Runtime and TensorFlow.js probabilities. */
export const PARITY_TOLERANCE = 1e-5;

export interface ExportOptions {
  /** Model name in the metadata (default: the network's name). */
  name?: string;
  /** Model version in the metadata (default 1.0.0). */
  version?: string;
  /** Inputs for the parity check; default: probeInputs(). */
  probe?: Float32Array;
  /**
   * Score the checkpoint again on its own test split (rebuilt from its protocol, data, seed and test
   * size) with today's code, instead of carrying the scores measured when it was trained: for when
   * the way results are read has improved, e.g. the box reader.
   */
  rescore?: boolean;
  /**
   * Choose the thresholds on the checkpoint's validation split (rebuilt from its config) so that at
   * most this share of clean images is flagged at the `balanced` sensitivity (3x as many at `high`,
   * a third at `low`); without it every sensitivity uses 0.5.
   */
  falseAlarmTarget?: number;
  /** The data set whose clean images the false-alarm target is measured on (default: products when trained on it). */
  operatingSet?: string;
  /**
   * Choose the thresholds on a validation set of `operatingSet` (default products) built under this
   * protocol instead of the checkpoint's own validation split: for a model trained under another
   * protocol, the photos it will be used on. Same seed, so only validation sources are used.
   */
  operatingProtocol?: RunConfig['protocol'];
  /** Images in that set (default 4000, about 2000 clean). */
  operatingSize?: number;
  /**
   * Choose the thresholds on this catalogue of real files instead (a folder of images and a
   * labels.csv with file, kind and damaged columns; see catalogue.ts), for `kind` product (or natural
   * with operatingSet photos). It must hold only photos and cut-outs the model never trained on.
   */
  operatingCatalogue?: string;
  /** Views the model is run on (core's `runModel`), stored in the manifest; thresholds are chosen on them. */
  views?: Views;
  /**
   * A second, closer look for suspect photos (core's ModelEntry.closerLook), stored in the manifest: the ONNX
   * input is declared of any side, and thresholds (on a catalogue only) are chosen on the scores with it.
   */
  closerLook?: CloserLook;
  /** Keep and reuse generated validation sets here (see buildSplitsCached). */
  cacheDir?: string;
  /**
   * Calibrate the score (Platt scaling of the anomaly logit, written into the graph) on the operating
   * catalogue's photos of the operating kind before the thresholds are chosen there; needs `operatingCatalogue`.
   */
  calibrate?: boolean;
  /**
   * How the weights are stored (default float32). With float16 the checkpoint's weights are rounded to
   * float16 first: the parity check, calibration and thresholds all see the rounded network, the one the
   * file holds.
   */
  weights?: WeightType;
}

/** How a model's score was calibrated, and how well its scores match the share damaged before and after. */
export interface CalibrationResult extends Platt {
  method: 'platt';
  fittedOn: string;
  before: { bins: ReliabilityBin[]; ece: number };
  after: { bins: ReliabilityBin[]; ece: number };
}

export type { OperatingPoint } from './operating-point.js';

export interface ExportResult {
  path: string;
  bytes: number;
  sha256: string;
  network: string;
  /** The model has a `heatmap` output. */
  localises: boolean;
  /** Which part of each photo the model's input shows (from its training run). */
  framing: Framing;
  /** Side of the model's square input. */
  inputSize: number;
  metadata: Record<string, string>;
  /** Max |p_onnx - p_tfjs| over the probe inputs. */
  maxAbsDiff: number;
  probeCount: number;
  operatingPoint?: OperatingPoint;
  views: Views;
  closerLook?: CloserLook;
  calibration?: CalibrationResult;
}

/**
 * Thresholds for a false-alarm target, chosen on the clean images of one set of the validation split
 * and reported with the recall they leave on visible damage there.
 */
export async function chooseOperatingPoint(
  model: Uint8Array,
  config: Pick<RunConfig, 'data' | 'protocol' | 'framing' | 'seed' | 'counts'>,
  target: number,
  operatingSet?: string,
  cacheDir?: string,
  views: Views = 'single',
  inputSize = INPUT_SIZE,
): Promise<OperatingPoint> {
  const sets = config.data.split('+') as DatasetName[];
  const setName = operatingSet ?? (sets.includes('products') ? 'products' : undefined);
  const setIndex = setName == null ? -1 : sets.indexOf(setName as DatasetName);
  if (setName != null && setIndex < 0) throw new BlankspotError('BAD_REQUEST', `the model was not trained on ${setName}`);
  const { val } = await buildSplitsCached(
    {
      sets,
      protocol: config.protocol,
      framing: config.framing,
      seed: config.seed,
      counts: { train: 0, val: config.counts.val, test: 0 },
      ...(inputSize !== INPUT_SIZE ? { inputSize } : {}),
    },
    cacheDir,
  );
  // A copy: ONNX Runtime refuses tensors over shared memory, where data sets live.
  const scores = await viewScores(model, new Float32Array(val.images), views, inputSize);
  const only = (i: number) => setIndex < 0 || val.setIndex[i] === setIndex;
  const clean = Array.from(scores).filter((_, i) => only(i) && val.labels[i] === 0);
  return operatingPointFor(
    clean,
    target,
    (t) => {
      const q = quality(val, scores, only, t);
      return { falseAlarms: q.falseAlarms.rate, recall: q.recall.rate };
    },
    `${clean.length} clean ${setName ?? 'images'} of the validation split (${config.protocol} protocol, seed ${config.seed})`,
  );
}

/**
 * Inputs that exercise a model the way real use does: real photo crops with and without the paper's
 * square (256 by default; for an input of another side than the paper's, rectangles pasted at the
 * photo's resolution), plus uniform noise. Deterministic.
 */
export async function probeInputs(photoCrops = 192, noise = 64, inputSize = INPUT_SIZE): Promise<Float32Array> {
  const { val } = await buildSplits({
    sets: ['photos'],
    protocol: inputSize === INPUT_SIZE ? 'paper' : 'realistic',
    seed: 'onnx-parity',
    counts: { train: 0, val: photoCrops, test: 0 },
    ...(inputSize !== INPUT_SIZE ? { inputSize } : {}),
  });
  const pixels = inputSize * inputSize;
  const out = new Float32Array((photoCrops + noise) * pixels);
  out.set(val.images);
  const rng = new Rng('onnx-parity-noise');
  for (let i = photoCrops * pixels; i < out.length; i++) out[i] = rng.float();
  return out;
}

/** `prob` followed by `heatmap` (localisers) as one array: what the parity check compares. */
function joined(prob: Float32Array, heatmap?: Float32Array): Float32Array {
  if (!heatmap) return prob;
  const out = new Float32Array(prob.length + heatmap.length);
  out.set(prob);
  out.set(heatmap, prob.length);
  return out;
}

/** The network's outputs as the trainer computes them: `prob`, then the `heatmap` of a localiser. */
export function tfjsOutputs(
  spec: NetworkSpec,
  values: Record<string, Float32Array>,
  inputs: Float32Array,
  calibration?: Platt,
): Float32Array {
  const params = paramsFromValues(spec, values);
  try {
    const side = spec.inputSize;
    const n = countOf(inputs, side);
    return tf.tidy(() => {
      const { logits, heatmapLogits } = forward(spec, params, tf.tensor4d(inputs, [n, side, side, 1]));
      // A localiser's logits are (0, z): calibrated, (0, scale z + shift).
      const scored = calibration
        ? tf.add(tf.mul(logits, tf.tensor1d([1, calibration.scale])), tf.tensor1d([0, calibration.shift]))
        : logits;
      const prob = tf.softmax(scored).dataSync() as Float32Array;
      return joined(prob, heatmapLogits ? (tf.sigmoid(heatmapLogits).dataSync() as Float32Array) : undefined);
    });
  } finally {
    disposeParams(params);
  }
}

/** Anomaly scores of an ONNX model on the views it will be run on (`runModel`), in batches. */
export async function viewScores(
  model: Uint8Array,
  inputs: Float32Array,
  views: Views,
  inputSize = INPUT_SIZE,
): Promise<Float32Array> {
  const session = await createNodeSession(model, { threads: 0 });
  try {
    const pixels = inputSize * inputSize;
    const n = inputs.length / pixels;
    const scores = new Float32Array(n);
    for (let start = 0; start < n; start += 256) {
      const m = Math.min(256, n - start);
      const out = await runModel(session, inputs.subarray(start * pixels, (start + m) * pixels), m, views);
      scores.set(anomalyScores(out.prob), start);
    }
    return scores;
  } finally {
    await session.release();
  }
}

/** The same outputs from an ONNX model in ONNX Runtime (Node). */
export async function onnxOutputs(
  model: Uint8Array | string,
  inputs: Float32Array,
  inputSize = INPUT_SIZE,
): Promise<Float32Array> {
  const bytes = typeof model === 'string' ? new Uint8Array(await readFile(model)) : model;
  // The Node adapter's session: the parity check runs the file the way the API will.
  const session = await createNodeSession(bytes, { threads: 0 });
  try {
    const out = await session.run(inputs, countOf(inputs, inputSize));
    return joined(out.prob, out.heatmap ? (out.heatmap.data as Float32Array) : undefined);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function str(v: unknown): string {
  return v == null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
}

type Checkpoint = Awaited<ReturnType<typeof loadCheckpoint>>;

/** The checkpoint's test scores, measured again with today's code (`rescore`). */
async function rescoredTest(checkpointDir: string, { meta, values }: Checkpoint, framing: Framing): Promise<unknown> {
  const spec = NETWORKS[meta.network];
  const t = meta.training;
  if (activeBackend() == null) await useBackend('auto');
  const counts = t.counts as RunConfig['counts'] | undefined;
  if (!counts?.test) throw new BlankspotError('BAD_REQUEST', `${checkpointDir} does not say how large its test split was`);
  const split = await rebuildTestSplit({
    data: String(t.data),
    protocol: t.protocol as RunConfig['protocol'],
    framing,
    seed: String(t.seed),
    counts,
    network: spec.name,
  });
  const params = paramsFromValues(spec, values);
  try {
    return { ...splitScores(split, evaluate(spec, params, split)), rescoredAt: new Date().toISOString() };
  } finally {
    disposeParams(params);
  }
}

/** What the ONNX file says about itself (metadata_props): how it was trained, scored and is to be fed. */
function exportMetadata(
  meta: Checkpoint['meta'],
  options: ExportOptions,
  framing: Framing,
  test: unknown,
): Record<string, string> {
  const spec = NETWORKS[meta.network];
  const t = meta.training;
  const side = spec.inputSize;
  const validation = t.validation as { accuracy?: number; perSet?: unknown } | undefined;
  const recipe = t.recipe as { name?: string } | undefined;
  const input = options.closerLook
    ? `[N,1,H,W] (${side}x${side}; ${options.closerLook.inputSize}x${options.closerLook.inputSize} for the closer look)`
    : `[N,1,${side},${side}]`;
  return {
    name: options.name ?? spec.name,
    version: options.version ?? '1.0.0',
    network: spec.name,
    architecture: spec.description,
    ...(spec.pretrained ? { pretrained_from: pretrainedSource(spec.pretrained) } : {}),
    recipe: str(recipe?.name ?? recipe),
    training: str(t.recipe),
    protocol: str(t.protocol),
    data: str(t.data),
    seed: str(t.seed),
    initialised_from: str(t.initFrom),
    validation_accuracy: str(validation?.accuracy),
    validation_per_set: str(validation?.perSet),
    test: str(test),
    trained_at: str(t.date),
    exported_at: new Date().toISOString(),
    preprocessing: preprocessingDescription(side) + (framing === 'content' ? `; ${CONTENT_FRAMING_DESCRIPTION}` : ''),
    framing,
    input_size: String(side),
    // A localiser trained on another side than its first look's (`blankspot train --side`).
    ...(t.side != null && Number(t.side) !== side ? { trained_side: String(t.side) } : {}),
    contract:
      `input '${MODEL_INPUT_NAME}' float32 ${input} in [0,1]; output '${MODEL_OUTPUT_NAME}' float32 [N,2] softmax, column 1 = white rectangle added` +
      (localises(spec)
        ? `; output '${MODEL_HEATMAP_NAME}' float32 [N,1,H,W], per cell of (${side}/H)x(${side}/W) input pixels the share the rectangle covers`
        : ''),
  };
}

/** Options that cannot work together, refused before anything is built. */
function refuseBadOptions(spec: NetworkSpec, options: ExportOptions): void {
  const closerLook = options.closerLook;
  if (closerLook != null) {
    if (!localises(spec))
      throw new BlankspotError('BAD_REQUEST', `${spec.name} is not fully convolutional: it cannot take a closer look`);
    const problem = closerLookProblem(closerLook, spec.inputSize, []);
    if (problem) throw new BlankspotError('BAD_REQUEST', problem);
    // The closer look needs the photos themselves at the larger side: a generated validation split has only the first.
    if (options.falseAlarmTarget != null && options.operatingCatalogue == null)
      throw new BlankspotError(
        'BAD_REQUEST',
        'with a closer look, thresholds are chosen on a catalogue of real files (--operating-catalogue)',
      );
  }
  if (options.calibrate && (options.operatingCatalogue == null || options.falseAlarmTarget == null))
    throw new BlankspotError('BAD_REQUEST', 'calibration is fitted on a catalogue of real files (--operating-catalogue)');
  if (options.calibrate && !localises(spec))
    throw new BlankspotError('BAD_REQUEST', `${spec.name} is not a localiser: only a localiser's score can be calibrated`);
}

/** An ONNX graph of the checkpoint, optionally calibrated, checked against the trainer on the probe inputs. */
interface CheckedBuild {
  build(calibration?: Platt): Promise<{ bytes: Uint8Array; diff: number }>;
}

function checkedBuilder(
  spec: NetworkSpec,
  values: Record<string, Float32Array>,
  metadata: Record<string, string>,
  anySide: boolean,
  probe: Float32Array,
  weights: WeightType,
): CheckedBuild {
  return {
    async build(calibration) {
      const bytes = buildOnnxModel({
        spec,
        values,
        metadata,
        producerVersion: PRODUCER_VERSION,
        anySide,
        calibration,
        weights,
      });
      const diff = maxAbsDiff(tfjsOutputs(spec, values, probe, calibration), await onnxOutputs(bytes, probe, spec.inputSize));
      if (!(diff <= PARITY_TOLERANCE)) {
        throw new BlankspotError(
          'BAD_MODEL_FILE',
          `ONNX output differs from TensorFlow.js by ${diff} (> ${PARITY_TOLERANCE}); not written`,
        );
      }
      return { bytes, diff };
    },
  };
}

/**
 * Thresholds chosen on a catalogue of real files, after calibrating the score there when asked: the
 * calibrated graph replaces the plain one, and the closer look's start moves onto the calibrated scale.
 */
async function onCatalogue(
  catalogue: string,
  built: { bytes: Uint8Array; diff: number },
  builder: CheckedBuild,
  metadata: Record<string, string>,
  framing: Framing,
  side: number,
  options: ExportOptions & { falseAlarmTarget: number },
): Promise<{
  bytes: Uint8Array;
  diff: number;
  operatingPoint: OperatingPoint;
  closerLook?: CloserLook;
  calibration?: CalibrationResult;
}> {
  const kind = options.operatingSet === 'photos' ? 'natural' : 'product';
  const description = `the catalogue ${basename(catalogue)}`;
  const views = options.views ?? 'single';
  let closerLook = options.closerLook;
  let rows = await catalogueScores(built.bytes, catalogue, framing, views, side, closerLook);
  let calibration: CalibrationResult | undefined;
  if (options.calibrate) {
    const ofKind = rows.filter((r) => r.kind === kind);
    const labels = ofKind.map((r) => (r.damaged ? 1 : 0));
    const scores = ofKind.map((r) => r.score);
    const platt = fitPlatt(scores, labels);
    if (!(platt.scale > 0))
      throw new BlankspotError(
        'BAD_REQUEST',
        `the model ranks the damaged ${kind} images of ${description} no higher than the clean ones: calibrating would reverse its scores`,
      );
    const fittedOn = `${ofKind.length} ${kind} images of ${description}`;
    metadata.calibration = `Platt scaling of the anomaly logit z: prob = softmax(0, ${platt.scale} z + ${platt.shift}), fitted on ${fittedOn}`;
    const diff = built.diff;
    built = await builder.build(platt);
    built.diff = Math.max(diff, built.diff);
    // The closer look starts where it did: its start on the calibrated scale.
    if (closerLook) closerLook = { ...closerLook, above: Number(calibrated(platt, closerLook.above).toPrecision(6)) };
    rows = await catalogueScores(built.bytes, catalogue, framing, views, side, closerLook);
    const after = rows.filter((r) => r.kind === kind).map((r) => r.score);
    calibration = { method: 'platt', ...platt, fittedOn, before: reliability(scores, labels), after: reliability(after, labels) };
  }
  const operatingPoint = operatingPointFromScores(rows, options.falseAlarmTarget, kind, description);
  return { ...built, operatingPoint, ...(closerLook ? { closerLook } : {}), ...(calibration ? { calibration } : {}) };
}

/** Exports a checkpoint folder to `out`, refusing to write a file that disagrees with the trainer. */
export async function exportCheckpoint(checkpointDir: string, out: string, options: ExportOptions = {}): Promise<ExportResult> {
  const checkpoint = await loadCheckpoint(checkpointDir);
  const { meta } = checkpoint;
  const weights = options.weights ?? 'float32';
  const values = weights === 'float16' ? roundedToFloat16(checkpoint.values) : checkpoint.values;
  const spec = NETWORKS[meta.network];
  const t = meta.training;
  const framing: Framing = t.framing === 'content' ? 'content' : 'full';
  const side = spec.inputSize;
  const test = options.rescore ? await rescoredTest(checkpointDir, checkpoint, framing) : t.test;
  const metadata = exportMetadata(meta, options, framing, test);
  refuseBadOptions(spec, options);

  if (activeBackend() == null) await useBackend('auto');
  const probe = options.probe ?? (await probeInputs(undefined, undefined, side));
  if (weights === 'float16') metadata.weights = 'float16, each cast to float32 in the graph (the trained weights rounded)';
  const builder = checkedBuilder(spec, values, metadata, options.closerLook != null, probe, weights);
  let built = await builder.build();
  const counts = t.counts as RunConfig['counts'] | undefined;
  const views = options.views ?? 'single';
  let closerLook = options.closerLook;
  let operatingPoint: OperatingPoint | undefined;
  let calibration: CalibrationResult | undefined;
  const target = options.falseAlarmTarget;
  if (target != null) {
    if (!counts?.val) throw new BlankspotError('BAD_REQUEST', `${checkpointDir} does not say how large its validation split was`);
    if (options.operatingCatalogue != null) {
      ({ operatingPoint, closerLook, calibration, ...built } = await onCatalogue(
        options.operatingCatalogue,
        built,
        builder,
        metadata,
        framing,
        side,
        { ...options, falseAlarmTarget: target },
      ));
    } else {
      const own = { data: String(t.data), protocol: t.protocol as RunConfig['protocol'], framing, seed: String(t.seed), counts };
      const other = options.operatingProtocol && {
        data: options.operatingSet ?? 'products',
        protocol: options.operatingProtocol,
        framing,
        seed: String(t.seed),
        counts: { train: 0, val: options.operatingSize ?? 4000, test: 0 },
      };
      operatingPoint = await chooseOperatingPoint(
        built.bytes,
        other || own,
        target,
        options.operatingSet,
        options.cacheDir,
        views,
        side,
      );
    }
  }
  const late = closerLook && operatingPoint && closerLookProblem(closerLook, side, Object.values(operatingPoint.thresholds));
  if (late) throw new BlankspotError('BAD_REQUEST', `${late}: lower --closer-look-above`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, built.bytes);
  return {
    path: out,
    bytes: built.bytes.length,
    sha256: createHash('sha256').update(built.bytes).digest('hex'),
    network: spec.name,
    localises: localises(spec),
    framing,
    inputSize: side,
    metadata,
    maxAbsDiff: built.diff,
    probeCount: countOf(probe, side),
    ...(operatingPoint ? { operatingPoint } : {}),
    views,
    ...(closerLook ? { closerLook } : {}),
    ...(calibration ? { calibration } : {}),
  };
}
