/**
 * A whole training step on native TensorFlow (tfjs-node with oneDNN) as a fixed chain of TensorFlow
 * ops with the backward pass written out, instead of tfjs ops recorded on a tape.
 *
 * Why: with oneDNN's kernels in place (native-kernels.ts) a small network's step is mostly overhead.
 * The tape, customGrad's wrappers, tidy scopes and kernel dispatch cost 1.2-1.5 ms of a 8-9 ms
 * cnn-relu step at batch 32 (the same ops called straight on the backend: 7.4 ms), and tfjs adds ops
 * nothing needs (same-shape reshapes, a zero input gradient for the first layer, a Multiply by the
 * loss's seed of 1). Here a cnn step is 21 ops, `lr`'s 5.
 *
 * One exact rewrite beyond that: a conv layer followed by max-pooling takes its activation and bias
 * gradients on the pooled side. Max-pooling routes each window's gradient to its maximum, a (leaky)
 * ReLU is monotonic, so the maximum's activation slope is the pooled output's: act'(y[argmax]) =
 * act'(pool(y)), and the bias gradient, a sum over positions, is the same sum before the scatter. Both
 * then run on a quarter of the values, and the filter gradient needs no bias pass.
 *
 * Gradients equal the tape's (native.test.ts checks every network against it and the cpu backend).
 */
import { tf } from './backend.js';
import type { Layer, NetworkSpec, Params } from './networks.js';
import {
  activationGrad,
  oneDnnConvAttrs,
  oneDnnFusedConv,
  oneDnnKernelsInstalled,
  oneDnnPoolAttrs,
  type NativeBackend,
  type OpAttr,
} from './native-kernels.js';

/** The classification loss's per-example values and the gradient sums, in spec.params order. */
export interface NativeStepResult {
  perExample: tf.Tensor1D;
  grads: tf.Tensor[];
}

/** A localiser's heatmap targets: per-cell covered share [n,h,w] and per-example loss weights [n]. */
export interface HeatmapTargets {
  coverage: tf.Tensor3D;
  weights: tf.Tensor1D;
}

type Block =
  | { kind: 'conv'; kernel: string; bias: string; same: boolean; alpha: number; pool: number | null }
  | { kind: 'flatten' }
  | { kind: 'dense'; kernel: string; bias: string }
  | { kind: 'heatmap'; kernel: string; bias: string; detectBias: string };

/** The spec as blocks this step runs, or null for a layer sequence it does not cover (the tape runs). */
function compile(spec: NetworkSpec): Block[] | null {
  const blocks: Block[] = [];
  const layers: Layer[] = spec.layers;
  const kernelSide = (name: string) => spec.params.find((p) => p.name === name)?.shape[0] ?? 0;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer.op === 'conv') {
      const act = layers[i + 1];
      const alpha = act?.op === 'relu' ? 0 : act?.op === 'leakyRelu' ? act.alpha : null;
      const pad = layer.pad ?? 0;
      const k = kernelSide(layer.kernel);
      // 'SAME' for a stride-1 odd kernel pads (k-1)/2 on every side; other paddings are not used here.
      if (alpha == null || (pad !== 0 && 2 * pad !== k - 1)) return null;
      const next = layers[i + 2];
      const pool = next?.op === 'maxPool' ? next.size : null;
      blocks.push({ kind: 'conv', kernel: layer.kernel, bias: layer.bias, same: pad > 0, alpha, pool });
      i += pool == null ? 1 : 2;
    } else if (layer.op === 'flatten') blocks.push({ kind: 'flatten' });
    else if (layer.op === 'dense') blocks.push({ kind: 'dense', kernel: layer.kernel, bias: layer.bias });
    else if (layer.op === 'heatmap' && layer.asideKernel == null) {
      blocks.push({ kind: 'heatmap', kernel: layer.kernel, bias: layer.bias, detectBias: layer.detectBias });
    } else if (layer.op === 'softmax' && i === layers.length - 1) continue;
    else return null;
  }
  return blocks;
}

/**
 * Whether this step can run the network's layers at all (any backend): where it cannot, training runs
 * tfjs's tape on one thread and TensorFlow should size its own op pool (`useBackend`'s `threads`).
 */
export function stepCompiles(spec: NetworkSpec): boolean {
  return compile(spec) != null;
}

/** TensorFlow ops by name with their attributes, over the backend's binding. */
class Ops {
  private readonly shapes = new Map<string, tf.Tensor>();
  readonly T: OpAttr;
  constructor(readonly b: NativeBackend) {
    this.T = { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
  }
  int = (name: string, value: number | number[]): OpAttr => ({ name, type: this.b.binding.TF_ATTR_INT, value });
  str = (name: string, value: string | string[]): OpAttr => ({ name, type: this.b.binding.TF_ATTR_STRING, value });
  bool = (name: string, value: boolean): OpAttr => ({ name, type: this.b.binding.TF_ATTR_BOOL, value });
  type = (name: string, value: number | number[]): OpAttr => ({ name, type: this.b.binding.TF_ATTR_TYPE, value });
  one = (name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor => this.b.executeSingleOutput(name, attrs, inputs);
  many = (name: string, attrs: OpAttr[], inputs: tf.Tensor[], n: number): tf.Tensor[] =>
    this.b.executeMultipleOutputs(name, attrs, inputs, n);
  /** An int32 vector kept for the step's life (shapes, axes), made once per value. */
  ints(values: number[]): tf.Tensor {
    const key = values.join(',');
    let t = this.shapes.get(key);
    if (t == null) {
      t = tf.keep(tf.tensor1d(values, 'int32'));
      this.shapes.set(key, t);
    }
    return t;
  }
  dispose(): void {
    tf.dispose([...this.shapes.values()]);
    this.shapes.clear();
  }
}

/** What the forward pass keeps of a block for the backward one. */
/** One step's temporaries (disposed when it ends) and the gradients it returns. */
class StepScope {
  readonly temps: tf.Tensor[] = [];
  readonly grads = new Map<string, tf.Tensor>();
  readonly t = <T extends tf.Tensor>(x: T): T => {
    this.temps.push(x);
    return x;
  };
}

interface Saved {
  block: Block;
  x: tf.Tensor;
  y?: tf.Tensor;
  pooled?: tf.Tensor;
  workspace?: tf.Tensor;
  /** heatmap: the input as [n*h*w, c], the cells [n, h*w] and their maximum [n, 1]. */
  x2d?: tf.Tensor;
  cells?: tf.Tensor;
  max?: tf.Tensor;
}

export class NativeTrainingStep {
  private readonly ops: Ops;

  private constructor(
    private readonly spec: NetworkSpec,
    private readonly params: Params,
    private readonly blocks: Block[],
  ) {
    this.ops = new Ops(tf.backend() as unknown as NativeBackend);
  }

  /** Whether the step runs this network here: native TensorFlow with oneDNN's kernels, and layers it covers. */
  static covers(spec: NetworkSpec): boolean {
    return tf.getBackend() === 'tensorflow' && oneDnnKernelsInstalled() && compile(spec) != null;
  }

  /** A step for this network, or null where it does not apply (another backend, no oneDNN, another layer). */
  static create(spec: NetworkSpec, params: Params): NativeTrainingStep | null {
    return NativeTrainingStep.covers(spec) ? new NativeTrainingStep(spec, params, compile(spec)!) : null;
  }

  dispose(): void {
    this.ops.dispose();
  }

  /** oneDNN's convolution attributes (native-kernels.ts builds them for its kernels too). */
  private convAttrs(same: boolean): OpAttr[] {
    return oneDnnConvAttrs(this.ops.b, { strides: 1, dilations: 1, pad: same ? 'same' : 'valid', dataFormat: 'NHWC' })!;
  }

  private poolAttrs(size: number): OpAttr[] {
    return oneDnnPoolAttrs(this.ops.b, { filterSize: size, strides: size, pad: 'valid' })!;
  }

  private biasGrad(d: tf.Tensor): tf.Tensor {
    return this.ops.one('BiasAddGrad', [this.ops.T, this.ops.str('data_format', 'NHWC')], [d]);
  }

  private matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
    const o = this.ops;
    return o.one('MatMul', [o.T, o.bool('transpose_a', transposeA), o.bool('transpose_b', transposeB)], [a, b]);
  }

  private reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
    const o = this.ops;
    return o.one('Reshape', [o.T, o.type('Tshape', o.b.binding.TF_INT32)], [x, o.ints(shape)]);
  }

  /**
   * Per-example losses and gradient sums over the batch: `images` [n,64,64,1], `labels` [n] int32,
   * `heatmapTargets` a localiser's targets for its grid side (released here). Every intermediate is
   * released; the caller disposes the result.
   */
  run(images: tf.Tensor, labels: tf.Tensor1D, heatmapTargets?: (side: number) => HeatmapTargets): NativeStepResult {
    const o = this.ops;
    const scope = new StepScope();
    try {
      const { logits, saved } = this.forward(images, scope);
      const [perExample, dLogits] = o.many(
        'SparseSoftmaxCrossEntropyWithLogits',
        [o.T, o.type('Tlabels', o.b.binding.TF_INT32)],
        [logits, labels],
        2,
      );
      scope.t(dLogits);
      this.backward(saved, dLogits, scope, heatmapTargets);
      return {
        perExample: perExample as tf.Tensor1D,
        grads: this.spec.params.map((q) => {
          const g = scope.grads.get(q.name);
          if (g == null) throw new Error(`${this.spec.name}: no gradient for ${q.name}`);
          return g;
        }),
      };
    } catch (e) {
      tf.dispose([...scope.grads.values()]);
      throw e;
    } finally {
      tf.dispose(scope.temps);
    }
  }

  private p(name: string): tf.Tensor {
    return this.params[name] as tf.Tensor;
  }

  /** Forward through every block, keeping what the backward pass reads; the logits [n, 2]. */
  private forward(images: tf.Tensor, scope: StepScope): { logits: tf.Tensor; saved: Saved[] } {
    const o = this.ops;
    const { t } = scope;
    const n = images.shape[0];
    const saved: Saved[] = [];
    let x = images;
    for (const block of this.blocks) {
      if (block.kind === 'conv') {
        const kept = this.convForward(block, x, scope);
        saved.push(kept);
        x = kept.pooled ?? kept.y!;
      } else if (block.kind === 'flatten') {
        saved.push({ block, x });
        x = t(this.reshape(x, [n, x.size / n]));
      } else if (block.kind === 'dense') {
        saved.push({ block, x });
        const z = t(this.matMul(x, this.p(block.kernel)));
        x = t(o.one('BiasAdd', [o.T, o.str('data_format', 'NHWC')], [z, this.p(block.bias)]));
      } else {
        const kept = this.heatmapForward(block, x, scope);
        saved.push(kept.saved);
        x = kept.logits;
      }
    }
    return { logits: x, saved };
  }

  /** A conv with its activation fused, and its max-pool (with the argmax workspace) when it has one. */
  private convForward(block: Extract<Block, { kind: 'conv' }>, x: tf.Tensor, scope: StepScope): Saved {
    const attrs = {
      strides: 1,
      dilations: 1,
      pad: block.same ? 'same' : 'valid',
      dataFormat: 'NHWC',
      activation: block.alpha === 0 ? 'relu' : 'leakyrelu',
      leakyreluAlpha: block.alpha,
    };
    const y = scope.t(oneDnnFusedConv(this.ops.b, x, this.p(block.kernel), this.p(block.bias), attrs)!);
    if (block.pool == null) return { block, x, y };
    const [pooled, workspace] = this.ops.many('_MklNativeMaxPool', this.poolAttrs(block.pool), [y], 2).map(scope.t);
    return { block, x, y, pooled, workspace };
  }

  /** The heatmap's cells and the anomaly logit (the top cell's plus its bias), next to the fixed 0. */
  private heatmapForward(
    block: Extract<Block, { kind: 'heatmap' }>,
    x: tf.Tensor,
    scope: StepScope,
  ): { saved: Saved; logits: tf.Tensor } {
    const o = this.ops;
    const { t } = scope;
    const [n, h, w, c] = x.shape;
    const x2d = t(this.reshape(x, [n * h * w, c]));
    const kernel = t(this.reshape(this.p(block.kernel), [c, 1]));
    const cells1 = t(o.one('BiasAdd', [o.T, o.str('data_format', 'NHWC')], [t(this.matMul(x2d, kernel)), this.p(block.bias)]));
    const cells = t(this.reshape(cells1, [n, h * w]));
    const reduce = [o.T, o.type('Tidx', o.b.binding.TF_INT32), o.bool('keep_dims', true)];
    const max = t(o.one('Max', reduce, [cells, o.ints([1])]));
    const anomaly = t(o.one('AddV2', [o.T], [max, this.p(block.detectBias)]));
    const concat = [o.int('N', 2), o.T, o.type('Tidx', o.b.binding.TF_INT32)];
    const logits = t(o.one('ConcatV2', concat, [t(o.one('ZerosLike', [o.T], [anomaly])), anomaly, o.ints([1])]));
    return { saved: { block, x, x2d, cells, max }, logits };
  }

  /** Backward from the logits' gradient: d is the loss sum's gradient with respect to each block's output. */
  private backward(
    saved: Saved[],
    dLogits: tf.Tensor,
    scope: StepScope,
    heatmapTargets?: (side: number) => HeatmapTargets,
  ): void {
    const { t } = scope;
    let d = dLogits;
    for (let i = saved.length - 1; i >= 0; i--) {
      const s = saved[i];
      const block = s.block;
      const wantInput = i > 0;
      if (block.kind === 'conv') d = this.convBackward(block, s, d, wantInput, scope);
      else if (block.kind === 'flatten') {
        if (wantInput) d = t(this.reshape(d, s.x.shape));
      } else if (block.kind === 'dense') {
        scope.grads.set(block.kernel, this.matMul(s.x, d, true, false)).set(block.bias, this.biasGrad(d));
        if (wantInput) d = t(this.matMul(d, this.p(block.kernel), false, true));
      } else d = this.heatmapBackward(block, s, d, wantInput, scope, heatmapTargets);
    }
  }

  private convBackward(
    block: Extract<Block, { kind: 'conv' }>,
    s: Saved,
    d: tf.Tensor,
    wantInput: boolean,
    scope: StepScope,
  ): tf.Tensor {
    const o = this.ops;
    const { t, grads } = scope;
    const { x: xs, y } = s as Required<Pick<Saved, 'x' | 'y'>>;
    const kernel = this.p(block.kernel);
    let dz: tf.Tensor;
    if (block.pool == null) {
      dz = t(activationGrad(o.b, y, d, block.alpha));
      const [dw, db] = o.many(
        '_MklNativeConv2DBackpropFilterWithBias',
        this.convAttrs(block.same),
        [xs, o.ints(kernel.shape), dz],
        2,
      );
      grads.set(block.kernel, dw).set(block.bias, db);
    } else {
      // Activation and bias gradients on the pooled side (see the top of this file).
      const dq = t(activationGrad(o.b, s.pooled!, d, block.alpha));
      grads.set(block.bias, this.biasGrad(dq));
      dz = t(o.one('_MklNativeMaxPoolGrad', this.poolAttrs(block.pool), [y, s.pooled!, dq, s.workspace!]));
      grads.set(
        block.kernel,
        o.one('Conv2DBackpropFilter', this.convAttrs(block.same).slice(0, 5), [xs, o.ints(kernel.shape), dz]),
      );
    }
    if (!wantInput) return d;
    return t(o.one('_MklNativeConv2DBackpropInput', this.convAttrs(block.same), [o.ints(xs.shape), kernel, dz]));
  }

  private heatmapBackward(
    block: Extract<Block, { kind: 'heatmap' }>,
    s: Saved,
    d: tf.Tensor,
    wantInput: boolean,
    scope: StepScope,
    heatmapTargets?: (side: number) => HeatmapTargets,
  ): tf.Tensor {
    const o = this.ops;
    const { t, grads } = scope;
    const [n, h, w, c] = s.x.shape;
    const cells = s.cells!;
    // d(loss)/d(anomaly logit) is column 1 of the logits' gradient (column 0 is the constant 0).
    const sliceAttrs = [o.T, o.type('Index', o.b.binding.TF_INT32)];
    const dAnomaly = t(o.one('Slice', sliceAttrs, [d, o.ints([0, 1]), o.ints([-1, 1])]));
    const sum0 = [o.T, o.type('Tidx', o.b.binding.TF_INT32), o.bool('keep_dims', false)];
    grads.set(block.detectBias, o.one('Sum', sum0, [dAnomaly, o.ints([0])]));
    // The maximum's gradient goes to every cell equal to it, as tfjs's max gradient does.
    const isMax = t(o.one('Equal', [o.T, o.bool('incompatible_shape_error', true)], [cells, s.max!]));
    const mask = t(o.one('Cast', [o.type('SrcT', o.b.binding.TF_BOOL), o.type('DstT', o.b.binding.TF_FLOAT)], [isMax]));
    let dCells = t(o.one('Mul', [o.T], [mask, dAnomaly]));
    const heatmap = heatmapTargets?.(h);
    if (heatmap) {
      t(heatmap.coverage);
      t(heatmap.weights);
      // The heatmap loss's gradient per cell: (sigmoid(z) - covered share) times the example's weight.
      const coverage = t(this.reshape(heatmap.coverage, [n, h * w]));
      const weights = t(this.reshape(heatmap.weights, [n, 1]));
      const sig = t(o.one('Sigmoid', [o.T], [cells]));
      const dHeat = t(o.one('Mul', [o.T], [t(o.one('Sub', [o.T], [sig, coverage])), weights]));
      dCells = t(o.one('AddV2', [o.T], [dCells, dHeat]));
    }
    const dCells1 = t(this.reshape(dCells, [n * h * w, 1]));
    grads.set(block.kernel, this.reshape(t(this.matMul(s.x2d!, dCells1, true, false)), this.p(block.kernel).shape));
    grads.set(block.bias, this.biasGrad(dCells1));
    if (!wantInput) return d;
    const kernel = t(this.reshape(this.p(block.kernel), [c, 1]));
    return t(this.reshape(t(this.matMul(dCells1, kernel, false, true)), [n, h, w, c]));
  }
}
