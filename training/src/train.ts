/** The trainer: minibatch training of one network on one data set, with per-epoch logs. */
import { INPUT_SIZE } from '@blankspot/core';
import { tf } from './backend.js';
import type { Examples, Splits } from './datasets/build.js';
import { crossEntropy, forward, initParams, type NetworkName, type NetworkSpec, NETWORKS, type Params } from './networks.js';
import { Rng } from './rng.js';

const PIXELS = INPUT_SIZE * INPUT_SIZE;

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
    learningRate: 0.003,
    epochs: 30,
    batchSize: 64,
    schedule: 'cosine',
    description: 'Adam, learning rate 0.003 with cosine decay to 0, batch 64, 30 epochs',
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
  recipe: Recipe;
  seed: string | number;
  /** Overrides of the recipe. */
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  onBatch?: (info: { epoch: number; batch: number; batches: number; loss: number; accuracy: number }) => void;
  onEpoch?: (log: EpochLog) => void | Promise<void>;
}

export interface TrainResult {
  spec: NetworkSpec;
  params: Params;
  epochs: EpochLog[];
  recipe: Recipe;
}

function makeOptimizer(recipe: Recipe, lr: number): tf.Optimizer {
  return recipe.optimizer === 'sgd' ? tf.train.sgd(lr) : tf.train.adam(lr);
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // Not instanceof: tfjs optimizers override Symbol.hasInstance, so Adam passes as SGD.
  if (optimizer.getClassName() === 'SGD') (optimizer as tf.SGDOptimizer).setLearningRate(lr);
  // Adam reads this field on every step; it is not exposed as a setter.
  else (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** Copies the chosen examples into one batch tensor [n,64,64,1] and its labels. */
export function gatherBatch(ex: Examples, indices: ArrayLike<number>): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const n = indices.length;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    images.set(ex.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS);
    labels[i] = ex.labels[j];
  }
  return { x: tf.tensor4d(images, [n, INPUT_SIZE, INPUT_SIZE, 1]), y: tf.tensor1d(labels, 'int32') };
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** Anomaly probability per example. */
  scores: Float32Array;
}

/** Mean cross-entropy and accuracy on a set, in batches. */
export function evaluate(spec: NetworkSpec, params: Params, ex: Examples, batchSize = 256): Evaluation {
  let lossSum = 0;
  let correct = 0;
  const scores = new Float32Array(ex.count);
  for (let start = 0; start < ex.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, ex.count - start) }, (_, i) => start + i);
    const [loss, prob] = tf.tidy(() => {
      const { x, y } = gatherBatch(ex, idx);
      const logits = forward(spec, params, x).logits;
      return [tf.mul(crossEntropy(logits, y), idx.length), tf.softmax(logits)];
    });
    lossSum += (loss.dataSync() as Float32Array)[0];
    const p = prob.dataSync() as Float32Array;
    tf.dispose([loss, prob]);
    for (let i = 0; i < idx.length; i++) {
      scores[start + i] = p[i * 2 + 1];
      if ((p[i * 2 + 1] >= 0.5 ? 1 : 0) === ex.labels[start + i]) correct++;
    }
  }
  return { loss: lossSum / Math.max(1, ex.count), accuracy: correct / Math.max(1, ex.count), scores };
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
  const spec = NETWORKS[options.network];
  const recipe: Recipe = {
    ...options.recipe,
    epochs: options.epochs ?? options.recipe.epochs,
    batchSize: options.batchSize ?? options.recipe.batchSize,
    learningRate: options.learningRate ?? options.recipe.learningRate,
  };
  const params = initParams(spec, options.seed);
  const optimizer = makeOptimizer(recipe, recipe.learningRate);
  const vars = Object.values(params);
  const epochs: EpochLog[] = [];
  const { train: trainSet, val } = data;
  const batches = Math.ceil(trainSet.count / recipe.batchSize);
  for (let epoch = 1; epoch <= recipe.epochs; epoch++) {
    const lr =
      recipe.schedule === 'cosine'
        ? 0.5 * recipe.learningRate * (1 + Math.cos((Math.PI * (epoch - 1)) / recipe.epochs))
        : recipe.learningRate;
    setLearningRate(optimizer, lr);
    const order = Rng.for(options.seed, 'shuffle', epoch).shuffle(Array.from({ length: trainSet.count }, (_, i) => i));
    const started = performance.now();
    let lossSum = 0;
    let correct = 0;
    for (let b = 0; b < batches; b++) {
      const idx = order.slice(b * recipe.batchSize, (b + 1) * recipe.batchSize);
      const stats = tf.tidy(() => {
        const { x, y } = gatherBatch(trainSet, idx);
        let hits: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const logits = forward(spec, params, x).logits;
          hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')));
          return crossEntropy(logits, y);
        }, vars);
        optimizer.applyGradients(grads);
        const kept = hits as unknown as tf.Scalar;
        const out = tf.stack([value, kept]);
        kept.dispose();
        return out;
      });
      const [loss, hits] = stats.dataSync() as Float32Array;
      stats.dispose();
      lossSum += loss * idx.length;
      correct += hits;
      options.onBatch?.({ epoch, batch: b + 1, batches, loss, accuracy: hits / idx.length });
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
  optimizer.dispose();
  return { spec, params, epochs, recipe };
}
