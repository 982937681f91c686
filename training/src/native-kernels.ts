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
 * Pooling is probed once; a TensorFlow built without oneDNN, or a GPU build, keeps the stock pooling.
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
import { ACT_BIAS_GRAD, SOFTMAX_XENT } from './wasm-kernels.js';

const BACKEND = 'tensorflow';

/** What blankspot uses of tfjs-node's backend: one TensorFlow op by name, and its attribute codes. */
interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}
interface NativeBackend {
  binding: {
    TF_FLOAT: number;
    TF_INT32: number;
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

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: unknown;
  dimRoundingMode?: unknown;
}

/** oneDNN pooling attributes, or null for what it is not used for here (the stock kernel runs). */
function oneDnnPoolAttrs(b: NativeBackend, attrs: PoolAttrs): OpAttr[] | null {
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
  return [
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
        // (0.2 ms on [32,60,60,8]) next to Eigen's gradient.
        const [again, workspace] = oneDnnPool(b, input, attrs);
        const dx = b.executeSingleOutput('_MklNativeMaxPoolGrad', attrs, [input, output, dy, workspace]);
        tf.dispose([again, workspace]);
        return dx;
      },
    },
  ];
}

const actBiasGrad: KernelConfig = {
  kernelName: ACT_BIAS_GRAD,
  backendName: BACKEND,
  kernelFunc: (args) => {
    const b = args.backend as unknown as NativeBackend;
    const { y, dy } = args.inputs as Record<'y' | 'dy', TensorInfo>;
    const alpha = (args.attrs as unknown as { alpha: number }).alpha;
    // y > 0 exactly where the pre-activation was, so the output stands in for the features.
    const dz =
      alpha === 0
        ? b.executeSingleOutput('ReluGrad', [floatType(b)], [dy, y])
        : b.executeSingleOutput(
            'LeakyReluGrad',
            [floatType(b), { name: 'alpha', type: b.binding.TF_ATTR_FLOAT, value: alpha }],
            [dy, y],
          );
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

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, BACKEND) != null) unregisterKernel(config.kernelName, BACKEND);
  registerKernel(config);
}

let installed: { oneDnnPooling: boolean } | null = null;

/** Puts the kernels in, once; call with the tensorflow backend active. `gpu`: tfjs-node-gpu, which keeps stock pooling. */
export function installNativeTrainingKernels(options: { gpu: boolean }): { oneDnnPooling: boolean } {
  if (installed) return installed;
  installed = { oneDnnPooling: false };
  replace(actBiasGrad);
  replace(softmaxCrossEntropy);
  const pool = getKernel('MaxPool', BACKEND);
  const grad = getKernel('MaxPoolGrad', BACKEND);
  if (options.gpu || pool == null || grad == null) return installed;
  try {
    // The probe: a TensorFlow without oneDNN has no such kernel and throws here.
    const b = tf.backend() as unknown as NativeBackend;
    const probe = tf.zeros([1, 2, 2, 1]);
    tf.dispose([probe, ...oneDnnPool(b, probe, oneDnnPoolAttrs(b, { filterSize: 2, strides: 2, pad: 'valid' })!)]);
  } catch {
    return installed;
  }
  for (const config of poolKernels({ pool: pool.kernelFunc, grad: grad.kernelFunc })) replace(config);
  installed.oneDnnPooling = true;
  return installed;
}
