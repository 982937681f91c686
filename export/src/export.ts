/** A checkpoint to an ONNX file, verified against the TensorFlow.js network it came from. */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  BlankspotError,
  INPUT_SIZE,
  MODEL_HEATMAP_NAME,
  MODEL_INPUT_NAME,
  MODEL_OUTPUT_NAME,
  PREPROCESSING_DESCRIPTION,
} from '@blankspot/core';
import {
  NETWORKS,
  Rng,
  activeBackend,
  buildSplits,
  disposeParams,
  evaluate,
  rebuildTestSplit,
  splitScores,
  type RunConfig,
  loadCheckpoint,
  forward,
  localises,
  paramsFromValues,
  tf,
  useBackend,
  type NetworkSpec,
} from '@blankspot/training';
import { buildOnnxModel } from './onnx-graph.js';

const PIXELS = INPUT_SIZE * INPUT_SIZE;
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
}

export interface ExportResult {
  path: string;
  bytes: number;
  sha256: string;
  network: string;
  /** The model has a `heatmap` output. */
  localises: boolean;
  metadata: Record<string, string>;
  /** Max |p_onnx - p_tfjs| over the probe inputs. */
  maxAbsDiff: number;
  probeCount: number;
}

/**
 * Inputs that exercise a model the way real use does: real photo crops with and without the paper's
 * square (256 by default), plus uniform noise. Deterministic.
 */
export async function probeInputs(photoCrops = 192, noise = 64): Promise<Float32Array> {
  const { val } = await buildSplits({
    sets: ['photos'],
    protocol: 'paper',
    seed: 'onnx-parity',
    counts: { train: 0, val: photoCrops, test: 0 },
  });
  const out = new Float32Array((photoCrops + noise) * PIXELS);
  out.set(val.images);
  const rng = new Rng('onnx-parity-noise');
  for (let i = photoCrops * PIXELS; i < out.length; i++) out[i] = rng.float();
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
export function tfjsOutputs(spec: NetworkSpec, values: Record<string, Float32Array>, inputs: Float32Array): Float32Array {
  const params = paramsFromValues(spec, values);
  try {
    const n = inputs.length / PIXELS;
    return tf.tidy(() => {
      const { logits, heatmapLogits } = forward(spec, params, tf.tensor4d(inputs, [n, INPUT_SIZE, INPUT_SIZE, 1]));
      const prob = tf.softmax(logits).dataSync() as Float32Array;
      return joined(prob, heatmapLogits ? (tf.sigmoid(heatmapLogits).dataSync() as Float32Array) : undefined);
    });
  } finally {
    disposeParams(params);
  }
}

/** The same outputs from an ONNX model in ONNX Runtime (Node). */
export async function onnxOutputs(model: Uint8Array | string, inputs: Float32Array): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  try {
    const n = inputs.length / PIXELS;
    const result = await session.run({ [MODEL_INPUT_NAME]: new ort.Tensor('float32', inputs, [n, 1, INPUT_SIZE, INPUT_SIZE]) });
    const heat = result[MODEL_HEATMAP_NAME];
    return joined(result[MODEL_OUTPUT_NAME].data as Float32Array, heat ? (heat.data as Float32Array) : undefined);
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

/** Exports a checkpoint folder to `out`, refusing to write a file that disagrees with the trainer. */
export async function exportCheckpoint(checkpointDir: string, out: string, options: ExportOptions = {}): Promise<ExportResult> {
  const { meta, values } = await loadCheckpoint(checkpointDir);
  const spec = NETWORKS[meta.network];
  const t = meta.training;
  const validation = t.validation as { accuracy?: number; perSet?: unknown } | undefined;
  const recipe = t.recipe as { name?: string } | undefined;
  let test = t.test;
  if (options.rescore) {
    if (activeBackend() == null) await useBackend('auto');
    const counts = t.counts as RunConfig['counts'] | undefined;
    if (!counts?.test) throw new BlankspotError('BAD_REQUEST', `${checkpointDir} does not say how large its test split was`);
    const split = await rebuildTestSplit({
      data: String(t.data),
      protocol: t.protocol as RunConfig['protocol'],
      seed: String(t.seed),
      counts,
    });
    const params = paramsFromValues(spec, values);
    try {
      test = { ...splitScores(split, evaluate(spec, params, split)), rescoredAt: new Date().toISOString() };
    } finally {
      disposeParams(params);
    }
  }
  const metadata: Record<string, string> = {
    name: options.name ?? spec.name,
    version: options.version ?? '1.0.0',
    network: spec.name,
    architecture: spec.description,
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
    preprocessing: PREPROCESSING_DESCRIPTION,
    contract:
      `input '${MODEL_INPUT_NAME}' float32 [N,1,64,64] in [0,1]; output '${MODEL_OUTPUT_NAME}' float32 [N,2] softmax, column 1 = white rectangle added` +
      (localises(spec)
        ? `; output '${MODEL_HEATMAP_NAME}' float32 [N,1,H,W], per cell of (64/H)x(64/W) input pixels the share the rectangle covers`
        : ''),
  };
  const bytes = buildOnnxModel({ spec, values, metadata, producerVersion: PRODUCER_VERSION });

  if (activeBackend() == null) await useBackend('auto');
  const probe = options.probe ?? (await probeInputs());
  const expected = tfjsOutputs(spec, values, probe);
  const got = await onnxOutputs(bytes, probe);
  const diff = maxAbsDiff(expected, got);
  if (!(diff <= PARITY_TOLERANCE)) {
    throw new BlankspotError(
      'BAD_MODEL_FILE',
      `ONNX output differs from TensorFlow.js by ${diff} (> ${PARITY_TOLERANCE}); not written`,
    );
  }
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, bytes);
  return {
    path: out,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    network: spec.name,
    localises: localises(spec),
    metadata,
    maxAbsDiff: diff,
    probeCount: probe.length / PIXELS,
  };
}
