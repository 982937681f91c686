/**
 * Training kernels for TensorFlow.js's WASM backend, which as shipped (4.22) cannot train a CNN
 * correctly or quickly:
 * - it has no Conv2DBackpropFilter, so conv nets do not train at all;
 * - its MaxPoolGrad starts the running max at the smallest positive float, so windows whose values
 *   are all negative (common with leaky ReLU) send the gradient to the wrong place;
 * - its Conv2DBackpropInput is a plain loop that takes over half of each step;
 * - it has no depthwise backprop at all, so a MobileNet stream cannot be fine-tuned.
 * The replacements reuse the backend's own XNNPACK Conv2D, Transpose and Reverse kernels, or are a
 * tight loop over the WASM heap. Every one is checked against the 'cpu' backend in tests.
 */
import {
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const BACKEND = 'wasm';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

function kernel(name: string): KernelFunc {
  const config = getKernel(name, BACKEND);
  if (config == null) throw new Error(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc;
}

/** Runs another WASM kernel from inside a kernel; the result is backend data the caller must free. */
function run(name: string, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  return kernel(name)({ inputs, backend, attrs }) as TensorInfo;
}

function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function explicit(top: number, bottom: number, left: number, right: number): backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

function assertChannelsLast(dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC') throw new Error(`only NHWC is supported, got ${String(dataFormat)}`);
}

/**
 * dW[a,b,ci,co] = sum over n,i,j of xpad[n, s*i+a, s*j+b, ci] * dy[n,i,j,co]: a convolution of the
 * input with channels and batch swapped ([Cin,H,W,N]) by the output gradient used as the filter
 * ([Ho,Wo,N,Cout], dilated by the forward stride). XNNPACK does the heavy work.
 */
const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number;
    pad: Pad;
    dataFormat: string;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  assertChannelsLast(dataFormat);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { top, bottom, left, right } = info.padInfo;
  const xT = run('Transpose', wasm, { x }, { perm: [3, 1, 2, 0] });
  const dyT = run('Transpose', wasm, { x: dy }, { perm: [1, 2, 0, 3] });
  let conv = run(
    'Conv2D',
    wasm,
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: explicit(top, bottom, left, right),
      dataFormat: 'NHWC',
      dilations: [info.strideHeight, info.strideWidth],
    },
  );
  free(wasm, xT, dyT);
  const [kh, kw] = filterShape;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    // 'same' padding with a stride can leave extra rows past the filter: they are not part of dW.
    const sliced = run('Slice', wasm, { x: conv }, { begin: [0, 0, 0, 0], size: [-1, kh, kw, -1] });
    free(wasm, conv);
    conv = sliced;
  }
  const dW = run('Transpose', wasm, { x: conv }, { perm: [1, 2, 0, 3] });
  free(wasm, conv);
  return dW;
};

/**
 * dx for stride 1 is a full correlation of dy with the filter rotated by 180 degrees and its
 * in/out channels swapped; XNNPACK runs it far faster than the shipped loop. Other strides keep
 * the shipped kernel, which is correct, only slow.
 */
function makeConv2DBackpropInput(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const wasm = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: Pad;
      dataFormat: string;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
    };
    assertChannelsLast(dataFormat);
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const { top, left } = info.padInfo;
    const kh = info.filterHeight;
    const kw = info.filterWidth;
    const padTop = kh - 1 - top;
    const padLeft = kw - 1 - left;
    const padBottom = info.inHeight - info.outHeight + kh - 1 - padTop;
    const padRight = info.inWidth - info.outWidth + kw - 1 - padLeft;
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || Math.min(padTop, padLeft, padBottom, padRight) < 0) {
      return fallback(args);
    }
    const rotated = run('Reverse', wasm, { x: filter }, { dims: [0, 1] });
    const swapped = run('Transpose', wasm, { x: rotated }, { perm: [0, 1, 3, 2] });
    free(wasm, rotated);
    const dx = run(
      'Conv2D',
      wasm,
      { x: dy, filter: swapped },
      {
        strides: [1, 1],
        pad: explicit(padTop, padBottom, padLeft, padRight),
        dataFormat: 'NHWC',
        dilations: [1, 1],
      },
    );
    free(wasm, swapped);
    return dx;
  };
}

/**
 * Routes each output gradient to the first maximum of its window in row-major order, exactly as
 * the 'cpu' backend and TensorFlow do, starting from -Infinity so negative windows work.
 */
const maxPoolGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: Pad;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const out = wasm.makeOutput(input.shape, 'float32');
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (
    fh === 2 &&
    fw === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    padTop === 0 &&
    padLeft === 0 &&
    inHeight >= 2 * outHeight &&
    inWidth >= 2 * outWidth
  ) {
    maxPoolGrad2x2(x, g, dx, batchSize, inHeight, inWidth, C, outHeight, outWidth);
    return out;
  }
  const best = new Int32Array(C);
  const maxv = new Float32Array(C);
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * inWidth * C;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - padTop;
      const yMin = Math.max(0, y0);
      const yMax = Math.min(inHeight, y0 + fh);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - padLeft;
        const xMin = Math.max(0, x0);
        const xMax = Math.min(inWidth, x0 + fw);
        maxv.fill(Number.NEGATIVE_INFINITY);
        best.fill(-1);
        // Channels innermost: contiguous reads, one running max per channel.
        for (let yy = yMin; yy < yMax; yy++) {
          for (let xx = xMin; xx < xMax; xx++) {
            const p = xb + (yy * inWidth + xx) * C;
            for (let c = 0; c < C; c++) {
              const v = x[p + c];
              if (v > maxv[c]) {
                maxv[c] = v;
                best[c] = p + c;
              }
            }
          }
        }
        const gp = ((b * outHeight + oy) * outWidth + ox) * C;
        for (let c = 0; c < C; c++) if (best[c] >= 0) dx[best[c]] += g[gp + c];
      }
    }
  }
  return out;
};

/**
 * The common 2x2 stride-2 case without padding, branch-free: the first-maximum rule is computed
 * with comparisons turned into 0/1 integers, because ReLU outputs make the branches unpredictable.
 */
function maxPoolGrad2x2(
  x: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  batch: number,
  inH: number,
  inW: number,
  C: number,
  outH: number,
  outW: number,
): void {
  const row = inW * C;
  let gi = 0;
  for (let b = 0; b < batch; b++) {
    const xb = b * inH * row;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const p00 = xb + 2 * oy * row + 2 * ox * C;
        for (let c = 0; c < C; c++, gi++) {
          const i00 = p00 + c;
          const x00 = x[i00];
          const x01 = x[i00 + C];
          const x10 = x[i00 + row];
          const x11 = x[i00 + row + C];
          // Strict '>' keeps the earlier position on ties, as the reference does.
          const top = +(x01 > x00);
          const bottom = +(x11 > x10);
          const down = +(Math.max(x10, x11) > Math.max(x00, x01));
          dx[i00 + top * C + down * (row + (bottom - top) * C)] = g[gi];
        }
      }
    }
  }
}

/**
 * Kernel name of softmax cross-entropy per example with its gradient, [loss [N], softmax - one-hot
 * [N,C]] from logits and int32 labels; native TensorFlow has it (native-kernels.ts), others use tfjs ops.
 */
export const SOFTMAX_XENT = 'BlankspotSoftmaxCrossEntropy';

/** Kernel name of the fused activation-and-bias gradient used by blankspot's conv layers. */
export const ACT_BIAS_GRAD = 'BlankspotActBiasGrad';

/**
 * Kernel name of a conv layer's backward step but the input gradient: [dz, dw, db] from the layer's
 * input x, output y and upstream dy (attrs alpha, filterShape, pad); native TensorFlow with oneDNN
 * has it (native-kernels.ts), the others run ACT_BIAS_GRAD and Conv2DBackpropFilter.
 */
export const CONV_WEIGHT_GRADS = 'BlankspotConvWeightGrads';

/**
 * Kernel names of square max-pooling (attr size, valid padding) that hands its argmax workspace to its
 * gradient: [y, workspace] from x, and dx from x, y, dy and the workspace. Native TensorFlow with
 * oneDNN has them (native-kernels.ts); elsewhere tf.maxPool and its stock gradient run.
 */
export const POOL_WITH_WORKSPACE = 'BlankspotMaxPoolWithWorkspace';

/**
 * Kernel name of a plain 2-D matrix product (attrs transposeA, transposeB) without tfjs's detour
 * through a batch of one; native TensorFlow has it (native-kernels.ts), elsewhere tf.matMul runs.
 */
export const MATMUL_2D = 'BlankspotMatMul2D';
export const POOL_GRAD_WITH_WORKSPACE = 'BlankspotMaxPoolGradWithWorkspace';

/**
 * One pass for the two cheap but memory-bound parts of a conv layer's backward step: the gradient
 * through ReLU/leaky ReLU (dz = y>0 ? dy : alpha*dy, from the activation output y) and the bias
 * gradient (the sum of dz over batch and positions). As separate tfjs ops they are six broadcasts.
 */
const actBiasGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { y, dy } = inputs as { y: TensorInfo; dy: TensorInfo };
  const alpha = (attrs as unknown as { alpha: number }).alpha;
  const C = y.shape[y.shape.length - 1];
  const dzInfo = wasm.makeOutput(y.shape, 'float32');
  const dbInfo = wasm.makeOutput([C], 'float32');
  const yv = wasm.typedArrayFromHeap(y) as Float32Array;
  const gv = wasm.typedArrayFromHeap(dy) as Float32Array;
  const dz = wasm.typedArrayFromHeap(dzInfo) as Float32Array;
  const db = new Float64Array(C);
  // Branch-free (the sign of y is a coin flip for the branch predictor): slope = alpha or 1.
  const rise = 1 - alpha;
  for (let i = 0; i < yv.length; i += C) {
    for (let c = 0; c < C; c++) {
      const v = gv[i + c] * (alpha + rise * +(yv[i + c] > 0));
      dz[i + c] = v;
      db[c] += v;
    }
  }
  (wasm.typedArrayFromHeap(dbInfo) as Float32Array).set(db);
  return [dzInfo, dbInfo];
};

/** Leaky ReLU forward, branch-free; the shipped WASM kernel takes longer than the convolution before it. */
const leakyRelu: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  const alpha = (attrs as unknown as { alpha: number }).alpha;
  const out = wasm.makeOutput(x.shape, 'float32');
  const xv = wasm.typedArrayFromHeap(x) as Float32Array;
  const yv = wasm.typedArrayFromHeap(out) as Float32Array;
  const rise = 1 - alpha;
  for (let i = 0; i < xv.length; i++) yv[i] = xv[i] * (alpha + rise * +(xv[i] > 0));
  return out;
};

/** Depthwise geometry (channel multiplier 1, as MobileNet's): the forward conv's info from its attrs. */
function depthwiseInfo(xShape: number[], filterShape: number[], attrs: NamedAttrMap): backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs as unknown as {
    strides: [number, number] | number;
    pad: Pad;
    dataFormat: string;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    dilations?: [number, number] | number;
  };
  assertChannelsLast(dataFormat);
  if (filterShape[3] !== 1) throw new Error('only a channel multiplier of 1 is supported');
  const dilation = dilations ?? 1;
  if (dilation !== 1 && !(Array.isArray(dilation) && dilation[0] === 1 && dilation[1] === 1))
    throw new Error('only undilated depthwise convolutions are supported');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
}

/**
 * Both depthwise gradients walk the same pairs: output cell (i, j) of channel c reads input pixel
 * (s*i + a - padTop, s*j + b - padLeft) through tap (a, b). dx gathers dy*w into each pixel, dw sums
 * x*dy per tap; plain loops over the WASM heap (a depthwise conv is cheap: C taps per pixel, not C*C).
 */
function depthwisePairs(
  info: backend_util.Conv2DInfo,
  visit: (xAt: number, yAt: number, wAt: number, channels: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  for (let n = 0; n < batchSize; n++)
    for (let i = 0; i < outHeight; i++)
      for (let a = 0; a < filterHeight; a++) {
        const y = i * strideHeight + a - top;
        if (y < 0 || y >= inHeight) continue;
        for (let j = 0; j < outWidth; j++)
          for (let b = 0; b < filterWidth; b++) {
            const x = j * strideWidth + b - left;
            if (x < 0 || x >= inWidth) continue;
            visit(
              ((n * inHeight + y) * inWidth + x) * inChannels,
              ((n * outHeight + i) * outWidth + j) * inChannels,
              (a * filterWidth + b) * inChannels,
              inChannels,
            );
          }
      }
}

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const inputShape = (attrs as unknown as { inputShape: number[] }).inputShape;
  const info = depthwiseInfo(inputShape, filter.shape, attrs ?? {});
  const out = wasm.makeOutput(inputShape, 'float32');
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const w = wasm.typedArrayFromHeap(filter) as Float32Array;
  depthwisePairs(info, (xAt, yAt, wAt, channels) => {
    for (let c = 0; c < channels; c++) dx[xAt + c] += g[yAt + c] * w[wAt + c];
  });
  return out;
};

const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = (attrs as unknown as { filterShape: number[] }).filterShape;
  const info = depthwiseInfo(x.shape, filterShape, attrs ?? {});
  const sums = new Float64Array(filterShape.reduce((p, d) => p * d, 1));
  const xv = wasm.typedArrayFromHeap(x) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  depthwisePairs(info, (xAt, yAt, wAt, channels) => {
    for (let c = 0; c < channels; c++) sums[wAt + c] += xv[xAt + c] * g[yAt + c];
  });
  const out = wasm.makeOutput(filterShape, 'float32');
  (wasm.typedArrayFromHeap(out) as Float32Array).set(sums);
  return out;
};

let installed = false;

/** Registers the replacement kernels for the 'wasm' backend (idempotent). Call before training. */
export function installWasmTrainingKernels(): void {
  if (installed) return;
  const shippedInput = getKernel('Conv2DBackpropInput', BACKEND);
  if (shippedInput == null) throw new Error('the wasm backend is not registered: import @tensorflow/tfjs-backend-wasm first');
  const replacements: KernelConfig[] = [
    { kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter },
    {
      kernelName: 'Conv2DBackpropInput',
      backendName: BACKEND,
      kernelFunc: makeConv2DBackpropInput(shippedInput.kernelFunc),
      // The shipped kernel stays the fallback for strided convs, so its WASM binding must still be set up.
      setupFunc: shippedInput.setupFunc,
    },
    { kernelName: 'MaxPoolGrad', backendName: BACKEND, kernelFunc: maxPoolGrad },
    { kernelName: ACT_BIAS_GRAD, backendName: BACKEND, kernelFunc: actBiasGrad },
    { kernelName: 'LeakyRelu', backendName: BACKEND, kernelFunc: leakyRelu },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: BACKEND, kernelFunc: depthwiseBackpropInput },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: BACKEND, kernelFunc: depthwiseBackpropFilter },
  ];
  for (const config of replacements) {
    if (getKernel(config.kernelName, BACKEND) != null) unregisterKernel(config.kernelName, BACKEND);
    registerKernel(config);
  }
  installed = true;
}
