/**
 * Data-parallel gradients: WASM runs one thread in Node, and native TensorFlow's own op pool gained
 * little on these small convolutions, so each extra core gets a worker thread with its own copy of
 * the network (on native TensorFlow, its own one-thread TensorFlow and written-out step). Every step
 * the batch is split into shards, each thread computes its shard's gradient sum, and the main thread
 * adds them up: the same gradient as one thread computing the whole batch, up to float rounding. The
 * training set is shared memory, so a step only ships the weights (a few thousand floats) and the
 * shard's indices.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { tf, type BackendName } from './backend.js';
import type { Examples } from './datasets/build.js';
import { crossEntropySum, forward, heatmapLossSum, trainableParams, type NetworkSpec, type Params } from './networks.js';
import { gatherBatch, gatherHeatmapTargets } from './batch.js';
import { NativeTrainingStep } from './native-step.js';

export interface ShardResult {
  count: number;
  /** Sum (not mean) of the loss over the shard. */
  lossSum: number;
  hits: number;
  /** Gradient sums per trainable parameter, in the order of spec.params. */
  grads: Float32Array[];
}

/** One shard's sums with the gradients still as tensors, so a one-thread step never leaves the backend. */
export interface ShardTensors {
  count: number;
  lossSum: number;
  hits: number;
  /** Gradient sums per trainable parameter, in the order of spec.params; the caller disposes them. */
  grads: tf.Tensor[];
}

/**
 * Gradient sums of the cross-entropy over some examples: the work one thread does in a step. `native`:
 * native TensorFlow's written-out step for this network (native-step.ts); without it tfjs's tape runs.
 */
export function shardGradientTensors(
  spec: NetworkSpec,
  params: Params,
  ex: Examples,
  indices: ArrayLike<number>,
  native?: NativeTrainingStep | null,
): ShardTensors {
  const vars = trainableParams(spec).map((p) => params[p.name]);
  const n = indices.length;
  const out = native
    ? nativeShard(native, ex, indices)
    : tf.tidy(() => {
        const { x, y } = gatherBatch(ex, indices);
        let perExample: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const { logits, heatmapLogits } = forward(spec, params, x);
          // Sum, not mean, so shards of different sizes add up to the batch.
          const classification = crossEntropySum(logits, y);
          // The logged loss is the classification loss alone, comparable across networks and with validation.
          perExample = classification.perExample;
          if (heatmapLogits == null) return classification.sum;
          const { coverage, weights } = gatherHeatmapTargets(ex, indices, heatmapLogits.shape[1]);
          return tf.add(classification.sum, heatmapLossSum(heatmapLogits, coverage, weights)) as tf.Scalar;
        }, vars);
        value.dispose();
        return { losses: perExample as unknown as tf.Tensor, grads: vars.map((v) => grads[v.name]) };
      });
  // The one read back per step: each example's loss. With two classes an example is right exactly
  // when its loss is under ln 2 (the true class has probability over 1/2).
  const losses = out.losses.dataSync() as Float32Array;
  out.losses.dispose();
  let lossSum = 0;
  let hits = 0;
  for (const l of losses) {
    lossSum += l;
    if (l < Math.LN2) hits++;
  }
  return { count: n, lossSum, hits, grads: out.grads };
}

function nativeShard(
  native: NativeTrainingStep,
  ex: Examples,
  indices: ArrayLike<number>,
): { losses: tf.Tensor; grads: tf.Tensor[] } {
  const { x, y } = gatherBatch(ex, indices);
  try {
    const { perExample, grads } = native.run(x, y, (side) => gatherHeatmapTargets(ex, indices, side));
    return { losses: perExample, grads };
  } finally {
    tf.dispose([x, y]);
  }
}

/** The same sums with the gradients as plain arrays, for shipping between threads. */
export function shardGradients(
  spec: NetworkSpec,
  params: Params,
  ex: Examples,
  indices: ArrayLike<number>,
  native?: NativeTrainingStep | null,
): ShardResult {
  const out = shardGradientTensors(spec, params, ex, indices, native);
  const grads = out.grads.map((g) => Float32Array.from(g.dataSync() as Float32Array));
  tf.dispose(out.grads);
  return { ...out, grads };
}

export interface WorkerInit {
  network: NetworkSpec['name'];
  /** The side the network trains at (`atSide`). */
  side: number;
  backend: BackendName;
  examples: SharedExamples;
}

/**
 * Examples as they travel to a worker thread: the shared images and labels as their buffers. A typed
 * array view is cloned with a 32-bit byte length, so a view of a 96,000-image 128x128 set (6.3 GB)
 * arrived cut to its first 30,464 images, and every later one was read as black; a buffer arrives whole.
 */
export type SharedExamples = Omit<Examples, 'images' | 'labels'> & { images: SharedArrayBuffer; labels: SharedArrayBuffer };

function shareExamples(ex: Examples): SharedExamples {
  return { ...ex, images: sharedBuffer(ex.images), labels: sharedBuffer(ex.labels) };
}

/** The array's own shared buffer when it spans one exactly (no copy), else a shared copy of it. */
function sharedBuffer(a: Float32Array | Uint8Array): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  const copy = new SharedArrayBuffer(a.byteLength);
  new Uint8Array(copy).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return copy;
}

/** The examples a worker thread was sent, as typed arrays again. */
export function unshareExamples(ex: SharedExamples): Examples {
  const pixels = ex.side * ex.side;
  return { ...ex, images: new Float32Array(ex.images, 0, ex.count * pixels), labels: new Uint8Array(ex.labels, 0, ex.count) };
}

// Worker threads need JavaScript: when this module runs from TypeScript sources (tests), use the build.
const WORKER_URL = import.meta.url.endsWith('.ts')
  ? new URL('../dist/parallel-worker.js', import.meta.url)
  : new URL('./parallel-worker.js', import.meta.url);

interface Pending {
  resolve: (r: ShardResult) => void;
  reject: (e: Error) => void;
}

class GradientWorker {
  private readonly worker: Worker;
  private pending: Pending | null = null;
  private failure: Error | null = null;

  constructor(init: WorkerInit) {
    this.worker = new Worker(WORKER_URL, { workerData: init });
    this.worker.on('message', (m: ShardResult | { error: string }) => {
      const p = this.pending;
      this.pending = null;
      if ('error' in m) p?.reject(new Error(`gradient worker failed: ${m.error}`));
      else p?.resolve(m);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`gradient worker exited with code ${code}`));
    });
  }

  private fail(e: Error): void {
    this.failure = e;
    this.pending?.reject(e);
    this.pending = null;
  }

  compute(weights: Float32Array[], indices: Int32Array): Promise<ShardResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage({ weights, indices });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** How many threads to train with by default: every core, as WASM cannot thread itself in Node. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** Computes batch gradients over `threads` threads (the calling one included). */
export class ParallelGradients {
  private readonly workers: GradientWorker[];
  /** Native TensorFlow's written-out step for the calling thread's shard, where it covers the network. */
  private readonly native: NativeTrainingStep | null;

  constructor(
    private readonly spec: NetworkSpec,
    private readonly params: Params,
    private readonly examples: Examples,
    threads: number,
    backend: BackendName,
  ) {
    const extra = Math.max(0, Math.min(threads, 64) - 1);
    this.workers = Array.from(
      { length: extra },
      () => new GradientWorker({ network: spec.name, side: spec.inputSize, backend, examples: shareExamples(examples) }),
    );
    this.native = NativeTrainingStep.create(spec, params);
  }

  /** True when the calling thread does all the work: gradients can then stay tensors (computeLocal). */
  get local(): boolean {
    return this.workers.length === 0;
  }

  /** The whole batch on the calling thread, gradients as tensors the caller disposes. */
  computeLocal(indices: number[]): ShardTensors {
    return shardGradientTensors(this.spec, this.params, this.examples, indices, this.native);
  }

  /**
   * Sums over the batch of loss, hits and gradients. `weights`: the current weights in spec order, when
   * the caller holds them as arrays (the trainer's optimizer does), so they are not read back again.
   */
  async compute(indices: number[], weights?: Float32Array[]): Promise<ShardResult> {
    const shards = this.workers.length + 1;
    const size = Math.ceil(indices.length / shards);
    weights ??= this.workers.length ? trainableParams(this.spec).map((p) => this.params[p.name].dataSync() as Float32Array) : [];
    const remote = this.workers.map((w, k) => {
      const part = indices.slice((k + 1) * size, (k + 2) * size);
      return part.length ? w.compute(weights, Int32Array.from(part)) : null;
    });
    const total = shardGradients(this.spec, this.params, this.examples, indices.slice(0, size), this.native);
    for (const r of await Promise.all(remote)) {
      if (r == null) continue;
      total.count += r.count;
      total.lossSum += r.lossSum;
      total.hits += r.hits;
      r.grads.forEach((g, i) => {
        const t = total.grads[i];
        for (let j = 0; j < t.length; j++) t[j] += g[j];
      });
    }
    return total;
  }

  async close(): Promise<void> {
    this.native?.dispose();
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
