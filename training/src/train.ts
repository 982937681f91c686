/** The trainer: minibatch training of one network on one data set, with per-epoch logs. */
import { tf } from './backend.js';
import { exampleImage, type Examples, type Splits } from './datasets/build.js';
import { DEFAULT_THRESHOLD, anomalyScores, boxFromHeatmap, iou, verdictFromScore, type Box } from '@blankspot/core';
import {
  atSide,
  crossEntropy,
  forward,
  initParams,
  localises,
  paramsFromValues,
  trainableParams,
  type NetworkName,
  type NetworkSpec,
  NETWORKS,
  type Params,
} from './networks.js';
import { Rng } from './rng.js';
import { gatherBatch } from './batch.js';
import { ParallelGradients, defaultThreads } from './parallel.js';
import { NativeTrainingStep } from './native-step.js';
import type { BackendName } from './backend.js';
import { ArrayOptimizer } from './optimizer.js';

export interface Recipe {
  name: string;
  optimizer: 'sgd' | 'adam';
  learningRate: number;
  epochs: number;
  batchSize: number;
  /** 'cosine' decays the learning rate to zero over the run. */
  schedule: 'constant' | 'cosine';
  description: string;
}

export const RECIPES = {
  paper: {
    name: 'paper',
    optimizer: 'sgd',
    learningRate: 0.001,
    epochs: 100,
    batchSize: 32,
    schedule: 'constant',
    description: 'as the paper: plain SGD, learning rate 0.001, 100 epochs (batch size 32; the paper does not say)',
  },
  modern: {
    name: 'modern',
    optimizer: 'adam',
    learningRate: 0.001,
    epochs: 30,
    batchSize: 32,
    schedule: 'cosine',
    description: 'Adam, learning rate 0.001 with cosine decay to 0, batch 32, 30 epochs',
  },
} as const satisfies Record<string, Recipe>;
export type RecipeName = keyof typeof RECIPES;

export interface EpochLog {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  /** Fraction of conv units that never activate on a validation sample (the paper's "black hole"). */
  deadFraction: number | null;
  learningRate: number;
  seconds: number;
  /** The paper's Table 1 time measure: seconds per epoch per 1000 training images. */
  secondsPer1000: number;
}

export interface TrainOptions {
  network: NetworkName;
  /** Train a localiser on inputs of this side rather than its own (`atSide`); the data must match. */
  side?: number;
  recipe: Recipe;
  seed: string | number;
  /** Start from these weights (a checkpoint's) instead of fresh ones: fine-tuning. */
  initialValues?: Record<string, Float32Array>;
  /** Overrides of the recipe. */
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Threads computing gradients (data parallel); default: all cores. */
  threads?: number;
  onBatch?: (info: { epoch: number; batch: number; batches: number; loss: number; accuracy: number }) => void;
  onEpoch?: (log: EpochLog) => void | Promise<void>;
}

/**
 * How many threads share each batch. A network without convolutions (`lr`) takes one: its step is a
 * few small products, and shipping its 8,194 weights and gradients to a second thread and back cost
 * more than the thread saved (native TensorFlow: 0.035 s per 1000 images on two against 0.018 on one;
 * WASM 0.06-0.10 against 0.04-0.08). Native TensorFlow splits a conv network's batch over worker
 * threads that each run blankspot's written-out step on one TensorFlow thread (useBackend's
 * `threads`): faster than TensorFlow's own op pool, which gained little on these small convolutions
 * (cnn-relu 0.15-0.19 s per 1000 images against 0.21-0.23, localiser-wide 0.61-0.62 against 0.72-0.89).
 * Where that step does not run (a GPU build, a TensorFlow without oneDNN) it keeps one thread.
 */
export function stepThreads(spec: NetworkSpec, backend: BackendName, requested: number): number {
  if (!spec.layers.some((l) => l.op === 'conv')) return 1;
  if (backend === 'tensorflow' && !NativeTrainingStep.covers(spec)) return 1;
  return Math.max(1, requested);
}

export interface TrainResult {
  spec: NetworkSpec;
  params: Params;
  epochs: EpochLog[];
  recipe: Recipe;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** Anomaly probability per example. */
  scores: Float32Array;
  /** Localisers: the box read from each example's heatmap (model-input pixels), null when none. */
  boxes?: (Box | null)[];
}

/** Mean cross-entropy and accuracy on a set, in batches. */
export function evaluate(spec: NetworkSpec, params: Params, ex: Examples, batchSize = 256): Evaluation {
  let lossSum = 0;
  let correct = 0;
  const scores = new Float32Array(ex.count);
  const boxes: (Box | null)[] = [];
  for (let start = 0; start < ex.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, ex.count - start) }, (_, i) => start + i);
    const [loss, prob, heat] = tf.tidy(() => {
      const { x, y } = gatherBatch(ex, idx);
      const { logits, heatmapLogits } = forward(spec, params, x);
      return [tf.mul(crossEntropy(logits, y), idx.length), tf.softmax(logits), heatmapLogits ? tf.sigmoid(heatmapLogits) : null];
    });
    lossSum += (loss.dataSync() as Float32Array)[0];
    const p = prob.dataSync() as Float32Array;
    if (heat) {
      const [, h, w] = heat.shape;
      const maps = heat.dataSync() as Float32Array;
      for (let i = 0; i < idx.length; i++) {
        boxes[start + i] = boxFromHeatmap(
          { data: maps.subarray(i * h * w, (i + 1) * h * w), height: h, width: w },
          exampleImage(ex, start + i),
          ex.side,
        );
      }
    }
    tf.dispose([loss, prob, ...(heat ? [heat] : [])]);
    const batchScores = anomalyScores(p);
    for (let i = 0; i < idx.length; i++) {
      scores[start + i] = batchScores[i];
      if ((verdictFromScore(batchScores[i]).flagged ? 1 : 0) === ex.labels[start + i]) correct++;
    }
  }
  return {
    loss: lossSum / Math.max(1, ex.count),
    accuracy: correct / Math.max(1, ex.count),
    scores,
    ...(localises(spec) ? { boxes } : {}),
  };
}

export interface Localisation {
  /** Visible rectangles the model flagged: the ones whose box is judged. */
  detected: number;
  /** Share of those whose box overlaps the true one with IoU >= 0.7. */
  iouAtLeast07: number;
  meanIou: number;
}

/** How well a localiser's boxes match the true rectangles, on the rectangles it detected. */
export function localisation(
  ex: Examples,
  evaluation: Evaluation,
  only?: (i: number) => boolean,
  threshold = DEFAULT_THRESHOLD,
): Localisation | null {
  if (!evaluation.boxes) return null;
  let detected = 0;
  let good = 0;
  let sum = 0;
  for (let i = 0; i < ex.count; i++) {
    if (ex.labels[i] !== 1 || ex.hidden[i] || evaluation.scores[i] < threshold || (only && !only(i))) continue;
    const truth = { x: ex.boxes[i * 4], y: ex.boxes[i * 4 + 1], width: ex.boxes[i * 4 + 2], height: ex.boxes[i * 4 + 3] };
    const box = evaluation.boxes[i];
    const overlap = box ? iou(box, truth) : 0;
    detected++;
    sum += overlap;
    if (overlap >= 0.7) good++;
  }
  return { detected, iouAtLeast07: detected ? good / detected : 0, meanIou: detected ? sum / detected : 0 };
}

/** Fraction of conv units (channel x position) whose activation is never positive on a sample. */
export function deadUnitFraction(spec: NetworkSpec, params: Params, ex: Examples, sample = 256): number | null {
  if (spec.name === 'lr') return null;
  const idx = Array.from({ length: Math.min(sample, ex.count) }, (_, i) => i);
  return tf.tidy(() => {
    const { x } = gatherBatch(ex, idx);
    const { activations } = forward(spec, params, x);
    let dead = 0;
    let total = 0;
    for (const a of activations) {
      const everPositive = tf.greater(tf.max(a, 0), 0);
      total += everPositive.size;
      dead += everPositive.size - (tf.sum(tf.cast(everPositive, 'int32')).dataSync() as Int32Array)[0];
    }
    return dead / total;
  });
}

export async function train(data: Splits, options: TrainOptions): Promise<TrainResult> {
  const spec = options.side == null ? NETWORKS[options.network] : atSide(NETWORKS[options.network], options.side);
  if (data.train.side !== spec.inputSize)
    throw new Error(
      `${spec.name} trains on ${spec.inputSize}x${spec.inputSize} inputs; the data's are ${data.train.side}x${data.train.side}`,
    );
  const recipe: Recipe = {
    ...options.recipe,
    epochs: options.epochs ?? options.recipe.epochs,
    batchSize: options.batchSize ?? options.recipe.batchSize,
    learningRate: options.learningRate ?? options.recipe.learningRate,
  };
  // The logged description says what actually ran, overrides included.
  const changed = (['epochs', 'batchSize', 'learningRate'] as const).filter((k) => recipe[k] !== options.recipe[k]);
  if (changed.length) recipe.description += `; overridden: ${changed.map((k) => `${k} ${recipe[k]}`).join(', ')}`;
  if (options.initialValues) recipe.description += '; fine-tuned from a checkpoint';
  const params = options.initialValues ? paramsFromValues(spec, options.initialValues) : initParams(spec, options.seed);
  const optimizer = new ArrayOptimizer(
    recipe.optimizer,
    recipe.learningRate,
    trainableParams(spec).map((p) => params[p.name]),
  );
  const epochs: EpochLog[] = [];
  const { train: trainSet, val } = data;
  const batches = Math.ceil(trainSet.count / recipe.batchSize);
  const backend = tf.getBackend() as BackendName;
  const threads = stepThreads(spec, backend, options.threads ?? defaultThreads());
  const parallel = new ParallelGradients(spec, params, trainSet, threads, backend);
  try {
    for (let epoch = 1; epoch <= recipe.epochs; epoch++) {
      const lr =
        recipe.schedule === 'cosine'
          ? 0.5 * recipe.learningRate * (1 + Math.cos((Math.PI * (epoch - 1)) / recipe.epochs))
          : recipe.learningRate;
      optimizer.learningRate = lr;
      const order = Rng.for(options.seed, 'shuffle', epoch).shuffle(Array.from({ length: trainSet.count }, (_, i) => i));
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        const idx = order.slice(b * recipe.batchSize, (b + 1) * recipe.batchSize);
        // Gradient sums over the batch, applied on the main thread's weights (the optimizer takes the mean).
        let step: { count: number; lossSum: number; hits: number };
        if (parallel.local) {
          const local = parallel.computeLocal(idx);
          optimizer.step(
            local.grads.map((g) => g.dataSync() as Float32Array),
            local.count,
          );
          tf.dispose(local.grads);
          step = local;
        } else {
          const shared = await parallel.compute(idx, optimizer.values);
          optimizer.step(shared.grads, shared.count);
          step = shared;
        }
        lossSum += step.lossSum;
        correct += step.hits;
        options.onBatch?.({ epoch, batch: b + 1, batches, loss: step.lossSum / step.count, accuracy: step.hits / step.count });
      }
      const seconds = (performance.now() - started) / 1000;
      const v = evaluate(spec, params, val);
      const log: EpochLog = {
        epoch,
        trainLoss: lossSum / trainSet.count,
        trainAccuracy: correct / trainSet.count,
        valLoss: v.loss,
        valAccuracy: v.accuracy,
        deadFraction: deadUnitFraction(spec, params, val),
        learningRate: lr,
        seconds,
        secondsPer1000: (seconds * 1000) / trainSet.count,
      };
      epochs.push(log);
      await options.onEpoch?.(log);
    }
  } finally {
    await parallel.close();
  }
  return { spec, params, epochs, recipe };
}
