/** One training run end to end: data, training, test evaluation, checkpoint and JSON log. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from './backend.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { buildSplits, type Examples, type Splits } from './datasets/build.js';
import type { DatasetName } from './datasets/sources.js';
import type { Protocol } from './datasets/protocols.js';
import { DEFAULT_THRESHOLD, type Framing } from '@blankspot/core';
import { disposeParams, growValues, GROWS_FROM, NETWORKS, type NetworkName } from './networks.js';
import {
  RECIPES,
  evaluate,
  localisation,
  train,
  type EpochLog,
  type Evaluation,
  type Localisation,
  type RecipeName,
  type TrainOptions,
} from './train.js';

export interface RunConfig {
  network: NetworkName;
  recipe: RecipeName;
  protocol: Protocol;
  /** Which part of each photo the inputs show; absent means the whole photo. */
  framing?: Framing;
  /** Data set label: one set name, or several joined with '+' for a mixture. */
  data: string;
  seed: string | number;
  counts: { train: number; val: number; test: number };
  backend: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** CPU threads (worker threads on WASM, TensorFlow's op pool on native); absent means every core. */
  threads?: number;
  /** The checkpoint the weights started from, when fine-tuning. */
  initFrom?: string;
  /** A localiser trained on inputs of this side rather than its own (`atSide`); absent means its own. */
  side?: number;
}

export interface RunLog {
  config: RunConfig;
  recipe: (typeof RECIPES)[RecipeName];
  startedAt: string;
  finishedAt?: string;
  epochs: EpochLog[];
  test?: SplitScores;
  validation?: SplitScores;
}

export interface SplitScores {
  loss: number;
  accuracy: number;
  perSet: Record<string, { count: number; accuracy: number; localisation?: Localisation }>;
  /** Localisers: boxes of the detected visible rectangles against the true ones. */
  localisation?: Localisation;
}

export function runDir(
  root: string,
  c: Pick<RunConfig, 'protocol' | 'framing' | 'data' | 'network' | 'recipe' | 'side'>,
): string {
  const at = c.side != null && c.side !== NETWORKS[c.network].inputSize ? `-at${c.side}` : '';
  return join(root, c.protocol, c.data, `${c.network}-${c.recipe}${c.framing === 'content' ? '-framed' : ''}${at}`);
}

/**
 * A run's test split built again from its config: every example has its own seed and photos are split
 * by file, so the test images are the very ones the run was scored on, without building train or val.
 */
export async function rebuildTestSplit(
  c: Pick<RunConfig, 'data' | 'protocol' | 'framing' | 'seed' | 'counts' | 'network' | 'side'>,
): Promise<Examples> {
  const { test } = await buildSplits({
    sets: c.data.split('+') as DatasetName[],
    protocol: c.protocol,
    framing: c.framing,
    inputSize: c.side ?? NETWORKS[c.network].inputSize,
    seed: c.seed,
    counts: { train: 0, val: 0, test: c.counts.test },
  });
  return test;
}

/** Loss, accuracy, per-set accuracy and (for localisers) box fit of an evaluation. */
export function splitScores(ex: Splits['test'], ev: Evaluation): SplitScores {
  const loc = localisation(ex, ev);
  return { loss: ev.loss, accuracy: ev.accuracy, perSet: perSetAccuracy(ex, ev), ...(loc ? { localisation: loc } : {}) };
}

function perSetAccuracy(ex: Splits['test'], ev: Evaluation) {
  const scores = ev.scores;
  const out: SplitScores['perSet'] = {};
  ex.sets.forEach((name, s) => {
    let n = 0;
    let ok = 0;
    for (let i = 0; i < ex.count; i++) {
      if (ex.setIndex[i] !== s) continue;
      n++;
      if ((scores[i] >= DEFAULT_THRESHOLD ? 1 : 0) === ex.labels[i]) ok++;
    }
    const loc = localisation(ex, ev, (i) => ex.setIndex[i] === s);
    out[name] = { count: n, accuracy: n ? ok / n : 0, ...(loc ? { localisation: loc } : {}) };
  });
  return out;
}

async function loadInitialValues(dir: string, network: NetworkName): Promise<Record<string, Float32Array>> {
  const { meta, values } = await loadCheckpoint(dir);
  if (meta.network === network) return values;
  if (GROWS_FROM[network] === meta.network) return growValues(NETWORKS[network], values);
  throw new Error(`${dir} holds a ${meta.network}, not a ${network}: cannot start from it`);
}

/** Trains, writes `log.json` after every epoch (so a stopped run keeps its curves) and the checkpoint at the end. */
export async function runTraining(
  data: Splits,
  config: RunConfig,
  outRoot: string,
  hooks: Pick<TrainOptions, 'onBatch' | 'onEpoch'> = {},
): Promise<{ dir: string; log: RunLog }> {
  const dir = runDir(outRoot, config);
  await mkdir(dir, { recursive: true });
  const log: RunLog = { config, recipe: RECIPES[config.recipe], startedAt: new Date().toISOString(), epochs: [] };
  const writeLog = () => writeFile(join(dir, 'log.json'), JSON.stringify(log, null, 2) + '\n');
  const initialValues = config.initFrom ? await loadInitialValues(config.initFrom, config.network) : undefined;
  const result = await train(data, {
    initialValues,
    network: config.network,
    ...(config.side != null ? { side: config.side } : {}),
    recipe: RECIPES[config.recipe],
    seed: config.seed,
    epochs: config.epochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    threads: config.threads,
    onBatch: hooks.onBatch,
    async onEpoch(e) {
      log.epochs.push(e);
      await writeLog();
      await hooks.onEpoch?.(e);
    },
  });
  log.recipe = { ...RECIPES[config.recipe], ...result.recipe } as RunLog['recipe'];
  const val = evaluate(result.spec, result.params, data.val);
  const test = evaluate(result.spec, result.params, data.test);
  log.validation = splitScores(data.val, val);
  log.test = splitScores(data.test, test);
  log.finishedAt = new Date().toISOString();
  await writeLog();
  await saveCheckpoint(dir, config.network, result.params, {
    recipe: log.recipe,
    protocol: config.protocol,
    ...(config.framing && config.framing !== 'full' ? { framing: config.framing } : {}),
    data: config.data,
    seed: config.seed,
    counts: config.counts,
    ...(config.initFrom ? { initFrom: config.initFrom } : {}),
    ...(config.side != null ? { side: config.side } : {}),
    backend: config.backend,
    epochs: log.epochs.length,
    validation: log.validation,
    test: log.test,
    date: log.finishedAt,
  });
  disposeParams(result.params);
  tf.disposeVariables();
  return { dir, log };
}
