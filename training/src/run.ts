/** One training run end to end: data, training, test evaluation, checkpoint and JSON log. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from './backend.js';
import { saveCheckpoint } from './checkpoint.js';
import type { Splits } from './datasets/build.js';
import type { Protocol } from './datasets/protocols.js';
import { disposeParams, type NetworkName } from './networks.js';
import { RECIPES, evaluate, train, type EpochLog, type RecipeName, type TrainOptions } from './train.js';

export interface RunConfig {
  network: NetworkName;
  recipe: RecipeName;
  protocol: Protocol;
  /** Data set label: one set name, or several joined with '+' for a mixture. */
  data: string;
  seed: string | number;
  counts: { train: number; val: number; test: number };
  backend: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
}

export interface RunLog {
  config: RunConfig;
  recipe: (typeof RECIPES)[RecipeName];
  startedAt: string;
  finishedAt?: string;
  epochs: EpochLog[];
  test?: { loss: number; accuracy: number; perSet: Record<string, { count: number; accuracy: number }> };
  validation?: { loss: number; accuracy: number; perSet: Record<string, { count: number; accuracy: number }> };
}

export function runDir(root: string, c: Pick<RunConfig, 'protocol' | 'data' | 'network' | 'recipe'>): string {
  return join(root, c.protocol, c.data, `${c.network}-${c.recipe}`);
}

function perSetAccuracy(ex: Splits['test'], scores: Float32Array) {
  const out: Record<string, { count: number; accuracy: number }> = {};
  ex.sets.forEach((name, s) => {
    let n = 0;
    let ok = 0;
    for (let i = 0; i < ex.count; i++) {
      if (ex.setIndex[i] !== s) continue;
      n++;
      if ((scores[i] >= 0.5 ? 1 : 0) === ex.labels[i]) ok++;
    }
    out[name] = { count: n, accuracy: n ? ok / n : 0 };
  });
  return out;
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
  const result = await train(data, {
    network: config.network,
    recipe: RECIPES[config.recipe],
    seed: config.seed,
    epochs: config.epochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
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
  log.validation = { loss: val.loss, accuracy: val.accuracy, perSet: perSetAccuracy(data.val, val.scores) };
  log.test = { loss: test.loss, accuracy: test.accuracy, perSet: perSetAccuracy(data.test, test.scores) };
  log.finishedAt = new Date().toISOString();
  await writeLog();
  await saveCheckpoint(dir, config.network, result.params, {
    recipe: log.recipe,
    protocol: config.protocol,
    data: config.data,
    seed: config.seed,
    counts: config.counts,
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
