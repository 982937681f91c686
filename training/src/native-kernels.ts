/**
 * Training kernels for the native TensorFlow backend (tfjs-node), put in when it starts:
 * - MaxPool and MaxPoolGrad run oneDNN's pooling (TensorFlow's own `_MklNativeMaxPool` kernels).
 *   Eager execution rewrites convolutions and matmuls to oneDNN but not pooling, and TensorFlow's
 *   Eigen MaxPoolGrad finds each window's argmax again with a scalar loop: on [32,60,60,8] it took
 *   3.1 ms against oneDNN's 0.2 ms, a quarter of a cnn training step. Same results, ties included
 *   (the first maximum of a window takes the gradient in both).
 * - ACT_BIAS_GRAD (a conv layer's activation and bias gradients) is TensorFlow's ReluGrad or
 *   LeakyReluGrad and BiasAddGrad: two ops where plain tfjs ops take four broadcasting ones.
 * - SOFTMAX_XENT (the classification loss and its gradient) is TensorFlow's
 *   SparseSoftmaxCrossEntropyWithLogits: one op for what tfjs ops do in about twenty.
 * - FusedConv2D runs oneDNN's fused convolution (`_MklNativeFusedConv2D`, bias and (leaky) ReLU in
 *   the convolution's own pass). tfjs-node's stock kernel runs Conv2D, a broadcasting Add and the
 *   activation as three ops: 1.8 ms on [32,64,64,1] * [5,5,1,8] against oneDNN's 0.5 ms. It needs
 *   the binding to take list attributes (fused_ops, TArgs), which `npm run setup:native` patches in.
 * - CONV_WEIGHT_GRADS (a conv layer's backward step but the input gradient) is ReluGrad or
 *   LeakyReluGrad and oneDNN's `_MklNativeConv2DBackpropFilterWithBias`, which sums the bias gradient
 *   in the filter gradient's pass: 0.9 ms where Conv2DBackpropFilter and BiasAddGrad took 1.6 ms.
 * - MATMUL_2D is TensorFlow's MatMul. tfjs's matMul runs every product as BatchMatMulV2 on a batch
 *   of one, which oneDNN runs 2.5-6x slower on the dense layers' shapes ([32,1352] x [1352,2]: 190 us
 *   against 34 us), the bulk of an `lr` step.
 * - POOL_WITH_WORKSPACE / POOL_GRAD_WITH_WORKSPACE: the trainer's pooling layers keep oneDNN's
 *   workspace from the forward pass for the gradient, which then does not pool again.
 * Each oneDNN kernel is probed once; a TensorFlow built without oneDNN, a GPU build or a binding
 * without the patch keeps the stock kernels.
 */
import * as tf from '@tensorflow/tfjs';
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import {
  ACT_BIAS_GRAD,
  CONV_WEIGHT_GRADS,
  MATMUL_2D,
  POOL_GRAD_WITH_WORKSPACE,
  POOL_WITH_WORKSPACE,
  SOFTMAX_XENT,
} from './wasm-kernels.js';

const BACKEND = 'tensorflow';

/** What blankspot uses of tfjs-node's backend: one TensorFlow op by name, and its attribute codes. */
export interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}
export interface NativeBackend {
  binding: {
    TF_FLOAT: number;
    TF_INT32: number;
    TF_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_BOOL: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: TensorInfo[], outputs: number): tf.Tensor[];
}

function floatType(b: NativeBackend): OpAttr {
  return { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

export interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: unknown;
  dimRoundingMode?: unknown;
}

/** oneDNN pooling attributes, or null for what it is not used for here (the stock kernel runs). */
export function oneDnnPoolAttrs(b: NativeBackend, attrs: PoolAttrs): OpAttr[] | null {
  const pair = (v: number | [number, number]) => (typeof v === 'number' ? [v, v] : v);
  const [kh, kw] = pair(attrs.filterSize);
  const [sh, sw] = pair(attrs.strides);
  if ((attrs.pad !== 'valid' && attrs.pad !== 'same') || attrs.dimRoundingMode != null) return null;
  return [
    floatType(b),
    { name: 'ksize', type: b.binding.TF_ATTR_INT, value: [1, kh, kw, 1] },
    { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, sh, sw, 1] },
    { name: 'padding', type: b.binding.TF_ATTR_STRING, value: attrs.pad === 'valid' ? 'VALID' : 'SAME' },
    // oneDNN's kernels are registered under this label; without it TensorFlow finds none.
    { name: '_kernel', type: b.binding.TF_ATTR_STRING, value: 'MklNameChangeOp' },
    { name: 'workspace_enabled', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
}

/** The pooled output and oneDNN's workspace (where each window's maximum was), which the gradient reads. */
function oneDnnPool(b: NativeBackend, x: TensorInfo, attrs: OpAttr[]): tf.Tensor[] {
  return b.executeMultipleOutputs('_MklNativeMaxPool', attrs, [x], 2);
}

function poolKernels(stock: { pool: KernelFunc; grad: KernelFunc }): KernelConfig[] {
  const squareAttrs = (b: NativeBackend, attrs: unknown) => {
    const size = (attrs as { size: number }).size;
    return oneDnnPoolAttrs(b, { filterSize: size, strides: size, pad: 'valid' })!;
  };
  return [
    {
      // The trainer's own pooling layer keeps the workspace for its gradient (networks.ts).
      kernelName: POOL_WITH_WORKSPACE,
      backendName: BACKEND,
      kernelFunc: (args) => {
        const b = args.backend as unknown as NativeBackend;
        return oneDnnPool(b, args.inputs.x as TensorInfo, squareAttrs(b, args.attrs));
      },
    },
    {
      kernelName: POOL_GRAD_WITH_WORKSPACE,
      backendName: BACKEND,
      kernelFunc: (args) => {
        const b = args.backend as unknown as NativeBackend;
        const { x, y, dy, workspace } = args.inputs as Record<'x' | 'y' | 'dy' | 'workspace', TensorInfo>;
        return b.executeSingleOutput('_MklNativeMaxPoolGrad', squareAttrs(b, args.attrs), [x, y, dy, workspace]);
      },
    },
    {
      kernelName: 'MaxPool',
      backendName: BACKEND,
      kernelFunc: (args) => {
        const b = args.backend as unknown as NativeBackend;
        const attrs = oneDnnPoolAttrs(b, args.attrs as unknown as PoolAttrs);
        const x = args.inputs.x as TensorInfo;
        if (attrs == null || x.dtype !== 'float32') return stock.pool(args);
        const [y, workspace] = oneDnnPool(b, x, attrs);
        workspace.dispose();
        return y;
      },
    },
    {
      kernelName: 'MaxPoolGrad',
      backendName: BACKEND,
      kernelFunc: (args) => {
        const b = args.backend as unknown as NativeBackend;
        const attrs = oneDnnPoolAttrs(b, args.attrs as unknown as PoolAttrs);
        const { dy, input, output } = args.inputs as Record<'dy' | 'input' | 'output', TensorInfo>;
        if (attrs == null || input.dtype !== 'float32') return stock.grad(args);
        // tfjs keeps the forward pass's input and output, not the workspace: pooling again is cheap
        // (0.2 ms on [32,60,60,8]) next to Eigen's gradient. The trainer's layers keep it instead.
        const [again, workspace] = oneDnnPool(b, input, attrs);
        const dx = b.executeSingleOutput('_MklNativeMaxPoolGrad', attrs, [input, output, dy, workspace]);
        tf.dispose([again, workspace]);
        return dx;
      },
    },
  ];
}

/** The (leaky) ReLU gradient: y > 0 exactly where the pre-activation was, so the output stands in for it. */
export function activationGrad(b: NativeBackend, y: TensorInfo, dy: TensorInfo, alpha: number): tf.Tensor {
  return alpha === 0
    ? b.executeSingleOutput('ReluGrad', [floatType(b)], [dy, y])
    : b.executeSingleOutput(
        'LeakyReluGrad',
        [floatType(b), { name: 'alpha', type: b.binding.TF_ATTR_FLOAT, value: alpha }],
        [dy, y],
      );
}

const actBiasGrad: KernelConfig = {
  kernelName: ACT_BIAS_GRAD,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const b = args.backend as unknown as NativeBackend;
    const { y, dy } = args.inputs as Record<'y' | 'dy', TensorInfo>;
    const alpha = (args.attrs as unknown as { alpha: number }).alpha;
    const dz = activationGrad(b, y, dy, alpha);
    const db = b.executeSingleOutput(
      'BiasAddGrad',
      [floatType(b), { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' }],
      [dz],
    );
    return [dz, db];
  },
};

const softmaxCrossEntropy: KernelConfig = {
  kernelName: SOFTMAX_XENT,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const b = args.backend as unknown as NativeBackend;
    const { logits, labels } = args.inputs as Record<'logits' | 'labels', TensorInfo>;
    return b.executeMultipleOutputs(
      'SparseSoftmaxCrossEntropyWithLogits',
      [floatType(b), { name: 'Tlabels', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_INT32 }],
      [logits, labels],
      2,
    );
  },
};

const ONE_DNN_LABEL = (b: NativeBackend): OpAttr => ({
  name: '_kernel',
  type: b.binding.TF_ATTR_STRING,
  value: 'MklNameChangeOp',
});

export interface Conv2DAttrs {
  strides: number | [number, number];
  pad: unknown;
  dataFormat: string;
  dilations: number | [number, number];
  dimRoundingMode?: unknown;
  activation?: string;
  leakyreluAlpha?: number;
}

/** The attributes every oneDNN convolution op here shares, or null where the stock kernel runs. */
export function oneDnnConvAttrs(b: NativeBackend, attrs: Conv2DAttrs): OpAttr[] | null {
  const pair = (v: number | [number, number]) => (typeof v === 'number' ? [v, v] : v);
  if ((attrs.pad !== 'valid' && attrs.pad !== 'same') || attrs.dimRoundingMode != null || attrs.dataFormat !== 'NHWC') {
    return null;
  }
  const [sh, sw] = pair(attrs.strides);
  const [dh, dw] = pair(attrs.dilations);
  return [
    floatType(b),
    { name: 'strides', type: b.binding.TF_ATTR_INT, value: [1, sh, sw, 1] },
    { name: 'padding', type: b.binding.TF_ATTR_STRING, value: attrs.pad === 'valid' ? 'VALID' : 'SAME' },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'dilations', type: b.binding.TF_ATTR_INT, value: [1, dh, dw, 1] },
    ONE_DNN_LABEL(b),
  ];
}

const FUSED_OPS: Record<string, string[]> = {
  linear: ['BiasAdd'],
  relu: ['BiasAdd', 'Relu'],
  leakyrelu: ['BiasAdd', 'LeakyRelu'],
};

/** conv + bias (+ activation) as one oneDNN op, or null for what it does not cover here. */
export function oneDnnFusedConv(
  b: NativeBackend,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo,
  attrs: Conv2DAttrs,
): tf.Tensor | null {
  const common = oneDnnConvAttrs(b, attrs);
  const fusedOps = FUSED_OPS[attrs.activation ?? 'linear'];
  if (common == null || fusedOps == null) return null;
  return b.executeSingleOutput(
    '_MklNativeFusedConv2D',
    [
      ...common,
      { name: 'num_args', type: b.binding.TF_ATTR_INT, value: 1 },
      { name: 'TArgs', type: b.binding.TF_ATTR_TYPE, value: [b.binding.TF_FLOAT] },
      { name: 'fused_ops', type: b.binding.TF_ATTR_STRING, value: fusedOps },
      { name: 'leakyrelu_alpha', type: b.binding.TF_ATTR_FLOAT, value: attrs.leakyreluAlpha ?? 0.2 },
    ],
    [x, filter, bias],
  );
}

function fusedConvKernel(stock: KernelFunc): KernelConfig {
  return {
    kernelName: 'FusedConv2D',
    backendName: BACKEND,
    kernelFunc: (args) => {
      const b = args.backend as unknown as NativeBackend;
      const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
      const covered = bias != null && preluActivationWeights == null && x!.dtype === 'float32';
      const y = covered ? oneDnnFusedConv(b, x!, filter!, bias, args.attrs as unknown as Conv2DAttrs) : null;
      return y ?? stock(args);
    },
  };
}

/** [dz, dw, db] of a stride-1 NHWC conv layer with (leaky) ReLU, from its input, output and upstream gradient. */
const convWeightGrads: KernelConfig = {
  kernelName: CONV_WEIGHT_GRADS,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const b = args.backend as unknown as NativeBackend;
    const { x, y, dy } = args.inputs as Record<'x' | 'y' | 'dy', TensorInfo>;
    const { alpha, filterShape, pad } = args.attrs as unknown as { alpha: number; filterShape: number[]; pad: 'valid' | 'same' };
    const dz = activationGrad(b, y, dy, alpha);
    const shape = tf.tensor1d(filterShape, 'int32');
    const common = oneDnnConvAttrs(b, { strides: 1, dilations: 1, pad, dataFormat: 'NHWC' })!;
    const [dw, db] = b.executeMultipleOutputs('_MklNativeConv2DBackpropFilterWithBias', common, [x, shape, dz], 2);
    shape.dispose();
    return [dz, dw, db];
  },
};

const matMul2D: KernelConfig = {
  kernelName: MATMUL_2D,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const b = args.backend as unknown as NativeBackend;
    const { a, b: m } = args.inputs as Record<'a' | 'b', TensorInfo>;
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const bool = (name: string, value: boolean): OpAttr => ({ name, type: b.binding.TF_ATTR_BOOL, value });
    return b.executeSingleOutput(
      'MatMul',
      [floatType(b), bool('transpose_a', transposeA), bool('transpose_b', transposeB)],
      [a, m],
    );
  },
};

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, BACKEND) != null) unregisterKernel(config.kernelName, BACKEND);
  registerKernel(config);
}

let installed: { oneDnnPooling: boolean; oneDnnConv: boolean } | null = null;

/** True when oneDNN's pooling and convolution kernels are in (CPU TensorFlow with the patched binding). */
export function oneDnnKernelsInstalled(): boolean {
  return installed != null && installed.oneDnnPooling && installed.oneDnnConv;
}

/** Whether a probe runs: a TensorFlow without oneDNN has no such kernel, an unpatched binding no list attrs. */
function works(probe: () => tf.Tensor[]): boolean {
  try {
    tf.dispose(probe());
    return true;
  } catch {
    return false;
  }
}

/** Puts the kernels in, once; call with the tensorflow backend active. `gpu`: tfjs-node-gpu, which keeps the stock kernels. */
export function installNativeTrainingKernels(options: { gpu: boolean }): { oneDnnPooling: boolean; oneDnnConv: boolean } {
  if (installed) return installed;
  installed = { oneDnnPooling: false, oneDnnConv: false };
  replace(actBiasGrad);
  replace(softmaxCrossEntropy);
  replace(matMul2D);
  if (options.gpu) return installed;
  const b = tf.backend() as unknown as NativeBackend;
  const pool = getKernel('MaxPool', BACKEND);
  const grad = getKernel('MaxPoolGrad', BACKEND);
  const poolProbe = () => {
    const x = tf.zeros([1, 2, 2, 1]);
    return [x, ...oneDnnPool(b, x, oneDnnPoolAttrs(b, { filterSize: 2, strides: 2, pad: 'valid' })!)];
  };
  if (pool != null && grad != null && works(poolProbe)) {
    for (const config of poolKernels({ pool: pool.kernelFunc, grad: grad.kernelFunc })) replace(config);
    installed.oneDnnPooling = true;
  }
  const conv = getKernel('FusedConv2D', BACKEND);
  const convProbe = () => {
    const [x, w, bias, y] = [tf.ones([1, 3, 3, 1]), tf.ones([2, 2, 1, 1]), tf.ones([1]), tf.ones([1, 2, 2, 1])];
    const attrs = { strides: 1, dilations: 1, pad: 'valid', dataFormat: 'NHWC', activation: 'relu' };
    const z = oneDnnFusedConv(b, x, w, bias, attrs)!;
    const grads = convWeightGrads.kernelFunc({
      inputs: { x, y, dy: y },
      backend: b as never,
      attrs: { alpha: 0, filterShape: [2, 2, 1, 1], pad: 'valid' },
    }) as tf.Tensor[];
    return [x, w, bias, y, z, ...grads];
  };
  if (conv != null && works(convProbe)) {
    replace(fusedConvKernel(conv.kernelFunc));
    replace(convWeightGrads);
    installed.oneDnnConv = true;
  }
  return installed;
}
