/**
 * The paper's three networks, written directly on TensorFlow.js ops so that the trainer, the
 * gradient tests and the ONNX exporter all see the same explicit weights. Layout is NHWC (what
 * TensorFlow.js runs natively); the model contract's NCHW [N,1,64,64] has the same memory order
 * because there is one channel.
 */
import { INPUT_SIZE, NUM_CLASSES } from '@blankspot/core';
import { tf } from './backend.js';
import { MOBILENET_FILE, pretrainedValues } from './pretrained.js';
import { Rng } from './rng.js';
import {
  ACT_BIAS_GRAD,
  CONV_WEIGHT_GRADS,
  MATMUL_2D,
  POOL_GRAD_WITH_WORKSPACE,
  POOL_WITH_WORKSPACE,
  SOFTMAX_XENT,
} from './wasm-kernels.js';

export const NETWORK_NAMES = [
  'lr',
  'cnn-relu',
  'cnn-leaky',
  'localiser',
  'localiser-wide',
  'localiser-deep',
  'localiser-128',
  'localiser-128-deep',
  'localiser-128-objects',
  'localiser-128-objects-64',
  'localiser-128-objects-64-tuned',
] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

export function isNetworkName(name: string): name is NetworkName {
  return (NETWORK_NAMES as readonly string[]).includes(name);
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /**
   * 'glorot' weights (Lasagne's default, as the paper used), 'zeros' biases, or 'pretrained': read from
   * a file in training/pretrained/ (`PretrainedSource`).
   */
  init: 'glorot' | 'zeros' | 'pretrained';
  /** Kept as loaded: no gradient is taken for it and the optimiser leaves it alone. */
  frozen?: boolean;
  fanIn?: number;
  fanOut?: number;
}

/**
 * One step of a network, in a form any runtime can follow: the trainer runs these with TensorFlow.js
 * and the exporter writes them as ONNX nodes, so a network added here is trained and exported alike.
 * Parameter names point into `params`. Convolutions are stride 1, kernels HWIO, 'valid' unless `pad`
 * (zeros on every side; 2 keeps a 5x5 conv's output the size of its input).
 */
export type Layer =
  | { op: 'conv'; kernel: string; bias: string; pad?: number }
  | { op: 'relu' }
  | { op: 'leakyRelu'; alpha: number }
  | { op: 'maxPool'; size: number }
  | { op: 'flatten' }
  | { op: 'dense'; kernel: string; bias: string }
  | { op: 'softmax' }
  /**
   * A localiser's head: a 1x1 conv gives one logit per cell of the feature grid (the `heatmap`,
   * after a sigmoid: how much of the cell the rectangle covers); the image's anomaly logit is the
   * highest cell's plus `detectBias`, next to a fixed 0 for "clean", so `prob` keeps the contract.
   */
  | { op: 'heatmap'; kernel: string; bias: string; detectBias: string; asideKernel?: string }
  /**
   * A pretrained MobileNetV2 conv with its batch norm folded in: 1x1 or 3x3, stride 1 or 2, padded as
   * Keras pads it (3x3 stride 1: one on every side; stride 2: one after, none before), depthwise
   * (kernel [k,k,C,1]) or not, ReLU6 after it or nothing (a block's linear projection).
   */
  | { op: 'mobileConv'; kernel: string; bias: string; stride: 1 | 2; depthwise: boolean; relu6: boolean }
  /** size x size average-pooling, valid (a stream that looks at a smaller view of the input). */
  | { op: 'avgPool'; size: number }
  /** Nearest-neighbour upsampling by an integer factor (output pixel i reads input pixel floor(i / factor)). */
  | { op: 'upsample'; factor: number }
  /** Remembers the running value for the `addKept` that closes an inverted residual block. */
  | { op: 'keep' }
  | { op: 'addKept' }
  /**
   * Sets the running value aside (a first stream's features) and starts again from the input; the
   * heatmap's `asideKernel` reads what was set aside, so two streams meet in one 1x1 conv.
   */
  | { op: 'setAside' };

export interface NetworkSpec {
  name: NetworkName;
  description: string;
  /** Side of the square input it takes (the contract's 64 for all but `localiser-128`). */
  inputSize: number;
  params: ParamSpec[];
  /** Input to `prob`; the last layer is always softmax. */
  layers: Layer[];
  /** The file in training/pretrained/ its `pretrained` parameters come from. */
  pretrained?: string;
}

const FILTERS = 8;
const KERNEL = 5;
const POOL = 2;
/** Spatial side after conv5 valid -> pool2 -> conv5 valid -> pool2 on a 64 input: 64-4=60, 30, 26, 13. */
const CNN_FEATURE_SIDE = ((INPUT_SIZE - KERNEL + 1) / POOL - KERNEL + 1) / POOL;
const CNN_FEATURES = CNN_FEATURE_SIDE * CNN_FEATURE_SIDE * FILTERS;
const PIXELS = INPUT_SIZE * INPUT_SIZE;

function cnnSpec(name: NetworkName, activation: Layer, description: string): NetworkSpec {
  return {
    name,
    description,
    inputSize: INPUT_SIZE,
    params: [
      {
        name: 'conv1/kernel',
        shape: [KERNEL, KERNEL, 1, FILTERS],
        init: 'glorot',
        fanIn: KERNEL * KERNEL,
        fanOut: KERNEL * KERNEL * FILTERS,
      },
      { name: 'conv1/bias', shape: [FILTERS], init: 'zeros' },
      {
        name: 'conv2/kernel',
        shape: [KERNEL, KERNEL, FILTERS, FILTERS],
        init: 'glorot',
        fanIn: KERNEL * KERNEL * FILTERS,
        fanOut: KERNEL * KERNEL * FILTERS,
      },
      { name: 'conv2/bias', shape: [FILTERS], init: 'zeros' },
      { name: 'dense/kernel', shape: [CNN_FEATURES, NUM_CLASSES], init: 'glorot', fanIn: CNN_FEATURES, fanOut: NUM_CLASSES },
      { name: 'dense/bias', shape: [NUM_CLASSES], init: 'zeros' },
    ],
    layers: [
      { op: 'conv', kernel: 'conv1/kernel', bias: 'conv1/bias' },
      activation,
      { op: 'maxPool', size: POOL },
      { op: 'conv', kernel: 'conv2/kernel', bias: 'conv2/bias' },
      activation,
      { op: 'maxPool', size: POOL },
      { op: 'flatten' },
      { op: 'dense', kernel: 'dense/kernel', bias: 'dense/bias' },
      { op: 'softmax' },
    ],
  };
}

function convParam(name: string, ci: number, co: number, k = KERNEL): ParamSpec {
  return { name, shape: [k, k, ci, co], init: 'glorot', fanIn: k * k * ci, fanOut: k * k * co };
}

/**
 * A fully convolutional localiser: 'same' 5x5 convs with `filters[i]` filters (leaky ReLU, which does
 * not die), a 2x2 max-pool after each of the first `pools`, then a 1x1 conv to one logit per cell of the
 * 16x16 grid (an input of 64 with two pools, 128 with three).
 */
function localiserNetwork(name: NetworkName, filters: readonly number[], inputSize = INPUT_SIZE, pools = 2): NetworkSpec {
  const act: Layer = { op: 'leakyRelu', alpha: 0.01 };
  const params: ParamSpec[] = [];
  const layers: Layer[] = [];
  const steps: string[] = [];
  filters.forEach((f, i) => {
    const conv = `conv${i + 1}`;
    params.push(convParam(`${conv}/kernel`, i === 0 ? 1 : filters[i - 1], f), {
      name: `${conv}/bias`,
      shape: [f],
      init: 'zeros',
    });
    layers.push({ op: 'conv', kernel: `${conv}/kernel`, bias: `${conv}/bias`, pad: 2 }, act);
    steps.push(`conv ${f}x5x5 same -> leaky ReLU`);
    if (i < pools) {
      layers.push({ op: 'maxPool', size: POOL });
      steps.push(`maxpool ${POOL}`);
    }
  });
  params.push(
    convParam('heat/kernel', filters[filters.length - 1], 1, 1),
    { name: 'heat/bias', shape: [1], init: 'zeros' },
    { name: 'detect/bias', shape: [1], init: 'zeros' },
  );
  layers.push({ op: 'heatmap', kernel: 'heat/kernel', bias: 'heat/bias', detectBias: 'detect/bias' }, { op: 'softmax' });
  const grid = inputSize / POOL ** pools;
  const cell = inputSize / grid;
  return {
    name,
    description:
      `fully convolutional on ${inputSize}x${inputSize}: ${steps.join(' -> ')} -> 1x1 conv -> heatmap ${grid}x${grid} ` +
      `(sigmoid, share of each ${cell}x${cell} cell covered); prob = softmax(0, max cell logit + b)`,
    inputSize,
    params,
    layers,
  };
}

/** MobileNetV2's stem and blocks 0-5 as (expand, stride, out, residual); 32 channels after the stem. */
const MOBILENET_BLOCKS: Array<[expand: number, stride: 1 | 2, out: number, residual: boolean]> = [
  [1, 1, 16, false],
  [6, 2, 24, false],
  [6, 1, 24, true],
  [6, 2, 32, false],
  [6, 1, 32, true],
  [6, 1, 32, true],
];

/** MobileNetV2's first layers at their pretrained values, frozen unless `tuned`: stride 8, 32 channels. */
function mobileNetStream(tuned = false): { params: ParamSpec[]; layers: Layer[] } {
  const params: ParamSpec[] = [];
  const layers: Layer[] = [];
  const conv = (keras: string, shape: number[], stride: 1 | 2, depthwise: boolean, relu6: boolean) => {
    const kernel = `mobilenet/${keras}/kernel`;
    const bias = `mobilenet/${keras}/bias`;
    const out = depthwise ? shape[2] : shape[3];
    params.push(
      { name: kernel, shape, init: 'pretrained', frozen: !tuned },
      { name: bias, shape: [out], init: 'pretrained', frozen: !tuned },
    );
    layers.push({ op: 'mobileConv', kernel, bias, stride, depthwise, relu6 });
  };
  conv('Conv1', [3, 3, 1, 32], 2, false, true);
  let channels = 32;
  MOBILENET_BLOCKS.forEach(([expand, stride, out, residual], b) => {
    const name = (part: string) => (b === 0 ? `expanded_conv_${part}` : `block_${b}_${part}`);
    const wide = channels * expand;
    if (residual) layers.push({ op: 'keep' });
    if (expand !== 1) conv(name('expand'), [1, 1, channels, wide], 1, false, true);
    conv(name('depthwise'), [3, 3, wide, 1], stride, true, true);
    conv(name('project'), [1, 1, wide, out], 1, false, false);
    if (residual) layers.push({ op: 'addKept' });
    channels = out;
  });
  return { params, layers };
}

/**
 * `localiser-128` beside a second stream that knows objects: MobileNetV2's first six blocks, trained
 * on ImageNet and frozen, then one 5x5 conv of its own; both streams' 16x16 features meet in the
 * heatmap's 1x1 conv. Grown from a trained localiser-128 with the new stream's heatmap weights at zero,
 * it starts as exactly that network.
 */
function objectsLocaliser(
  name: 'localiser-128-objects' | 'localiser-128-objects-64' | 'localiser-128-objects-64-tuned' = 'localiser-128-objects',
): NetworkSpec {
  const base = localiserNetwork(name, LOCALISER_FILTERS['localiser-128'], 2 * INPUT_SIZE, 3);
  // -tuned: the stream is trained too (fine-tuned from ImageNet's weights), for a task ImageNet never posed.
  const tuned = name === 'localiser-128-objects-64-tuned';
  const mobile = mobileNetStream(tuned);
  // The -64 networks' stream sees the input averaged to half its side (a quarter of the stream's cost):
  // its features come out at 8x8 and are upsampled to the heatmap's 16x16.
  const half = name !== 'localiser-128-objects';
  const [heatmap, softmax] = base.layers.slice(-2);
  if (heatmap.op !== 'heatmap') throw new Error('a localiser ends in its heatmap');
  return {
    ...base,
    description:
      `${base.description}; beside it, ${half ? 'on the input average-pooled 2x2, ' : ''}MobileNetV2 (ImageNet, ${tuned ? 'fine-tuned' : 'frozen'}) to block 5 -> ` +
      `conv 32x5x5 same -> leaky ReLU${half ? ' -> nearest upsampling 2x' : ''}, into the same 1x1 conv`,
    params: [
      ...mobile.params,
      convParam('objects/conv/kernel', 32, 32),
      { name: 'objects/conv/bias', shape: [32], init: 'zeros' },
      ...base.params,
      { name: 'objects/heat/kernel', shape: [1, 1, 32, 1], init: 'zeros' },
    ],
    layers: [
      ...(half ? [{ op: 'avgPool', size: 2 } as const] : []),
      ...mobile.layers,
      { op: 'conv', kernel: 'objects/conv/kernel', bias: 'objects/conv/bias', pad: 2 },
      { op: 'leakyRelu', alpha: 0.01 },
      ...(half ? [{ op: 'upsample', factor: 2 } as const] : []),
      { op: 'setAside' },
      ...base.layers.slice(0, -2),
      { ...heatmap, asideKernel: 'objects/heat/kernel' },
      softmax,
    ],
    pretrained: MOBILENET_FILE,
  };
}

/**
 * `localiser`: every cell of its 16x16 grid sees 32x32 input pixels, enough to take in a whole 16x16
 * square and the edges around it.
 *
 * `localiser-wide`, the localiser for real uploads: twice as wide and one 5x5 conv deeper, so each cell
 * sees 48x48 input pixels. The 8-16-16 localiser stalled on upload data, train and validation alike (too
 * small, not overfitting): telling a pasted rectangle from a burnt-out sky, a white label or a pale
 * product takes the straightness and flatness of edges over a longer range.
 *
 * `localiser-deep`: localiser-wide with two more 5x5 convs on the 16x16 grid, so each cell sees 80x80
 * input pixels (more than the whole input's side) and the head gets two more layers to tell a cut from
 * an object's own straight edge, for when localiser-wide fits train and validation alike (short of
 * capacity, not of data). It is grown from a trained localiser-wide (`growFrom`), so it starts where
 * that network stopped.
 *
 * `localiser-128`: localiser-wide behind a stem that reads a 128x128 input (8 5x5 convs and a 2x2
 * max-pool down to 64x64x8): the upload checks missed short cuts most, and twice the resolution makes
 * every cut twice as long. The stem costs little (1.5x localiser-wide's multiply-adds, not the 4x of
 * running it on 128); the grid stays 16x16 (8x8-pixel cells) and each cell sees about 100x100 input
 * pixels, the same share of the input as localiser-wide's. Grown from a trained localiser-wide
 * (`growValues`): the stem starts as a 2x2 box filter on its first channel, so after its pool it passes
 * on about the 64x64 area average the trained network was made for.
 *
 * `localiser-128-deep`: localiser-128 with two more 5x5 convs on the 16x16 grid, so each cell sees the
 * whole input, for cuts that only the whole silhouette tells from an outline (a head or a top cut flat).
 * Grown from a trained localiser-128 (`growValues`: the added convs start as the identity). What it
 * measured against localiser-128: docs/experiments.md.
 */
const LOCALISER_FILTERS = {
  localiser: [8, 16, 16],
  'localiser-wide': [16, 32, 32, 32],
  'localiser-deep': [16, 32, 32, 32, 32, 32],
  'localiser-128': [8, 16, 32, 32, 32],
  'localiser-128-deep': [8, 16, 32, 32, 32, 32, 32],
} as const;

export const NETWORKS: Record<NetworkName, NetworkSpec> = {
  lr: {
    name: 'lr',
    description: 'logistic regression: flatten -> dense 2 -> softmax',
    inputSize: INPUT_SIZE,
    params: [
      { name: 'dense/kernel', shape: [PIXELS, NUM_CLASSES], init: 'glorot', fanIn: PIXELS, fanOut: NUM_CLASSES },
      { name: 'dense/bias', shape: [NUM_CLASSES], init: 'zeros' },
    ],
    layers: [{ op: 'flatten' }, { op: 'dense', kernel: 'dense/kernel', bias: 'dense/bias' }, { op: 'softmax' }],
  },
  'cnn-relu': cnnSpec(
    'cnn-relu',
    { op: 'relu' },
    'conv 8x5x5 -> ReLU -> maxpool 2 -> conv 8x5x5 -> ReLU -> maxpool 2 -> dense 2 -> softmax',
  ),
  'cnn-leaky': cnnSpec(
    'cnn-leaky',
    { op: 'leakyRelu', alpha: 0.01 },
    'conv 8x5x5 -> leaky ReLU 0.01 -> maxpool 2 -> conv 8x5x5 -> leaky ReLU 0.01 -> maxpool 2 -> dense 2 -> softmax',
  ),
  localiser: localiserNetwork('localiser', LOCALISER_FILTERS.localiser),
  'localiser-wide': localiserNetwork('localiser-wide', LOCALISER_FILTERS['localiser-wide']),
  'localiser-deep': localiserNetwork('localiser-deep', LOCALISER_FILTERS['localiser-deep']),
  'localiser-128': localiserNetwork('localiser-128', LOCALISER_FILTERS['localiser-128'], 2 * INPUT_SIZE, 3),
  'localiser-128-deep': localiserNetwork('localiser-128-deep', LOCALISER_FILTERS['localiser-128-deep'], 2 * INPUT_SIZE, 3),
  'localiser-128-objects': objectsLocaliser(),
  'localiser-128-objects-64': objectsLocaliser('localiser-128-objects-64'),
  'localiser-128-objects-64-tuned': objectsLocaliser('localiser-128-objects-64-tuned'),
};

/**
 * The network a larger one can start from (`growValues`): its layers are the first of a deeper one
 * (localiser-deep, localiser-128-deep), the last of localiser-128.
 */
export const GROWS_FROM: Partial<Record<NetworkName, NetworkName>> = {
  'localiser-deep': 'localiser-wide',
  'localiser-128': 'localiser-wide',
  'localiser-128-deep': 'localiser-128',
  'localiser-128-objects': 'localiser-128',
  'localiser-128-objects-64': 'localiser-128',
  // The same parameters: it starts where the frozen network stopped, and trains the stream as well.
  'localiser-128-objects-64-tuned': 'localiser-128-objects-64',
};

/**
 * A trained network's values as the start of a deeper one (Net2DeeperNet, Chen et al. 2016): the
 * layers both have keep their weights; each added conv starts as the identity (its centre tap passes
 * every channel through, biases zero), so the grown network computes what the trained one did (up to
 * the leaky ReLU's negative slope applied once more) and training goes on from there.
 */
export function growValues(spec: NetworkSpec, values: Record<string, Float32Array>): Record<string, Float32Array> {
  const from = GROWS_FROM[spec.name];
  if (from != null && NETWORKS[from].inputSize !== spec.inputSize) return growStem(spec, values);
  const grown: Record<string, Float32Array> = {};
  for (const p of spec.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const have = values[p.name];
    if (have && have.length === size) {
      grown[p.name] = have;
      continue;
    }
    if (have) throw new Error(`parameter ${p.name} has ${have.length} values, ${size} wanted: cannot grow from it`);
    if (p.init === 'pretrained') {
      grown[p.name] = pretrainedValues(spec.pretrained ?? '', p.name, p.shape);
      continue;
    }
    const v = new Float32Array(size);
    if (p.init === 'zeros') {
      // An added output's weights: the grown network starts as the trained one.
    } else if (p.shape.length === 4) {
      const [kh, kw, ci, co] = p.shape;
      if (ci !== co) throw new Error(`cannot start ${p.name} as the identity: ${ci} channels in, ${co} out`);
      const centre = (Math.floor(kh / 2) * kw + Math.floor(kw / 2)) * ci * co;
      for (let c = 0; c < ci; c++) v[centre + c * co + c] = 1;
    } else throw new Error(`cannot grow ${p.name}: only convs and biases can be added`);
    grown[p.name] = v;
  }
  return grown;
}

/**
 * A trained 64-input localiser's values under a stem for a twice larger input (`localiser-128`): its
 * conv i becomes conv i+1, and its first conv reads channel 0 of the stem (the other channels start at
 * zero weight). The stem's channel 0 starts as a 2x2 box filter, so its max-pool's window at even
 * positions holds the exact 64x64 area average (the others may lift a pixel next to a lighter one);
 * its other channels start at random, to learn what 128 pixels show that 64 do not.
 */
function growStem(spec: NetworkSpec, values: Record<string, Float32Array>): Record<string, Float32Array> {
  const grown: Record<string, Float32Array> = {};
  const rng = Rng.for('grow', spec.name);
  for (const p of spec.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    const from = stemGrownFrom(p.name);
    if (from == null) {
      // The stem's own conv; its bias stays at zero.
      if (p.shape.length === 4) startStemKernel(v, p, rng);
    } else {
      const have = values[from];
      if (have == null) throw new Error(`cannot grow ${spec.name}: the checkpoint has no ${from}`);
      if (have.length === size) v.set(have);
      else if (p.shape.length === 4 && have.length * p.shape[2] === size) {
        // The first conv of the trained network: its one input channel becomes channel 0 of the stem's.
        const [kh, kw, ci, co] = p.shape;
        for (let k = 0; k < kh * kw; k++) for (let o = 0; o < co; o++) v[(k * ci + 0) * co + o] = have[k * co + o];
      } else throw new Error(`parameter ${from} has ${have.length} values, ${size} wanted for ${p.name}: cannot grow from it`);
    }
    grown[p.name] = v;
  }
  return grown;
}

/** The trained network's name for a parameter under a stem: conv i+1 was its conv i; null for the stem (conv1). */
function stemGrownFrom(name: string): string | null {
  const conv = /^conv(\d+)\/(kernel|bias)$/.exec(name);
  if (!conv) return name;
  const index = Number(conv[1]);
  return index === 1 ? null : `conv${index - 1}/${conv[2]}`;
}

/** The stem's kernel: channel 0 a 2x2 box filter, the others Glorot-uniform. */
function startStemKernel(v: Float32Array, p: NetworkSpec['params'][number], rng: Rng): void {
  const [kh, kw, ci, co] = p.shape;
  const limit = Math.sqrt(6 / ((p.fanIn ?? 1) + (p.fanOut ?? 1)));
  for (let i = 0; i < v.length; i++) v[i] = i % co === 0 ? 0 : rng.uniform(-limit, limit);
  const c = Math.floor(kh / 2);
  for (const [ky, kx] of [
    [c, c],
    [c, c + 1],
    [c + 1, c],
    [c + 1, c + 1],
  ])
    v[(ky * kw + kx) * ci * co] = 0.25;
}

/** The parameters training changes (all but the frozen), in spec order: gradients and optimiser steps follow it. */
export function trainableParams(spec: NetworkSpec): ParamSpec[] {
  return spec.params.filter((p) => !p.frozen);
}

/** True for networks whose ONNX file also has a `heatmap` output. */
export function localises(spec: NetworkSpec): boolean {
  return spec.layers.some((l) => l.op === 'heatmap');
}

/**
 * A fully convolutional localiser run on a `side` x `side` input instead of its own: the same weights,
 * a grid `side / inputSize` times larger. Training `localiser-128` at 256 tunes its weights for the
 * closer look (the manifest's `closerLook`), which runs them at 256; the first look still runs them at 128.
 */
export function atSide(spec: NetworkSpec, side: number): NetworkSpec {
  if (side === spec.inputSize) return spec;
  if (!localises(spec))
    throw new Error(`${spec.name} is not fully convolutional: it takes ${spec.inputSize}x${spec.inputSize} only`);
  const multiple = sideMultiple(spec);
  if (!Number.isInteger(side) || side <= 0 || side % multiple !== 0)
    throw new Error(`${spec.name} takes sides that are multiples of ${multiple}, not ${side}`);
  return { ...spec, inputSize: side, description: `${spec.description}; trained on ${side}x${side} inputs` };
}

/** What an input's side must be a multiple of: the largest downsampling of any of the network's streams. */
function sideMultiple(spec: NetworkSpec): number {
  let most = 1;
  let stride = 1;
  for (const l of spec.layers) {
    if (l.op === 'maxPool' || l.op === 'avgPool') stride *= l.size;
    else if (l.op === 'mobileConv') stride *= l.stride;
    else if (l.op === 'setAside') stride = 1;
    most = Math.max(most, stride);
  }
  return most;
}

export type Params = Record<string, tf.Variable>;

/** Fresh weights for a network, deterministic from the seed. */
export function initParams(spec: NetworkSpec, seed: string | number): Params {
  const rng = Rng.for(seed, 'init', spec.name);
  const params: Params = {};
  for (const p of spec.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const values = p.init === 'pretrained' ? pretrainedValues(spec.pretrained ?? '', p.name, p.shape) : new Float32Array(size);
    if (p.init === 'glorot') {
      const limit = Math.sqrt(6 / ((p.fanIn ?? 1) + (p.fanOut ?? 1)));
      for (let i = 0; i < size; i++) values[i] = rng.uniform(-limit, limit);
    }
    params[p.name] = tf.variable(tf.tensor(values, p.shape, 'float32'), true);
  }
  return params;
}

/** Parameters from stored values (a checkpoint), as trainable variables. */
export function paramsFromValues(spec: NetworkSpec, values: Record<string, Float32Array>): Params {
  const params: Params = {};
  for (const p of spec.params) {
    const v = values[p.name];
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (v == null || v.length !== size) throw new Error(`parameter ${p.name} missing or of the wrong size`);
    params[p.name] = tf.variable(tf.tensor(v, p.shape, 'float32'), true);
  }
  return params;
}

export function disposeParams(params: Params): void {
  for (const v of Object.values(params)) v.dispose();
}

/**
 * conv 5x5 valid + bias + (leaky) ReLU as one fused forward op with a hand-written backward step:
 * tfjs would otherwise run the activation and bias gradients as separate broadcasting ops, and
 * would compute the first layer's input gradient, which nothing needs.
 */
function convLayer(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, alpha: number, inputGrad: boolean): tf.Tensor4D {
  const layer = tf.customGrad((...args: unknown[]) => {
    const [xIn, w, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    // The kernel, not tf.fused.conv2d: while gradients are recorded that op unfuses itself.
    // ReLU fuses into XNNPACK's output clamp; leaky ReLU does not, so on WASM it runs as its own
    // kernel. Native TensorFlow fuses both (oneDNN's fused convolution, native-kernels.ts).
    const fusesLeaky = tf.getBackend() === 'tensorflow';
    const z = tf.engine().runKernel(
      'FusedConv2D',
      { x: xIn, filter: w, bias: b },
      {
        strides: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
        dilations: [1, 1],
        activation: alpha === 0 ? 'relu' : fusesLeaky ? 'leakyrelu' : 'linear',
        leakyreluAlpha: alpha,
      },
    ) as tf.Tensor4D;
    const y = alpha === 0 || fusesLeaky ? z : tf.leakyRelu(z, alpha);
    save([xIn, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as tf.Tensor4D[];
        const [dz, dw, db] = weightGrads(xs, ws, ys, dy as tf.Tensor4D, alpha);
        const dx = inputGrad ? tf.conv2dTranspose(dz, ws, xs.shape, 1, 'valid') : tf.zerosLike(xs);
        return [dx, dw, db];
      },
    };
  });
  return layer(x, kernel, bias) as tf.Tensor4D;
}

/** x W + b; where the backend has MATMUL_2D, its three products run as plain 2-D ones. */
function denseLayer(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D {
  if (tf.getKernel(MATMUL_2D, tf.getBackend()) == null) return tf.add(tf.matMul(x, w), bias) as tf.Tensor2D;
  const matMul = (a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) =>
    tf.engine().runKernel(MATMUL_2D, { a, b }, { transposeA, transposeB }) as tf.Tensor2D;
  const layer = tf.customGrad((...args: unknown[]) => {
    const [xIn, wIn, bIn, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor, tf.GradSaveFunc];
    save([xIn, wIn]);
    return {
      value: tf.add(matMul(xIn, wIn, false, false), bIn) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved;
        return [matMul(dy, ws, false, true), matMul(xs, dy, true, false), tf.reshape(tf.sum(dy, 0), bIn.shape)];
      },
    };
  });
  return layer(x, w, bias) as tf.Tensor2D;
}

/** size x size max-pooling, valid; where the backend has it, the gradient reads the forward pass's argmax. */
function maxPoolLayer(x: tf.Tensor4D, size: number): tf.Tensor4D {
  if (tf.getKernel(POOL_WITH_WORKSPACE, tf.getBackend()) == null) return tf.maxPool(x, size, size, 'valid');
  const layer = tf.customGrad((...args: unknown[]) => {
    const [xIn, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const [y, workspace] = tf.engine().runKernel(POOL_WITH_WORKSPACE, { x: xIn }, { size }) as unknown as tf.Tensor4D[];
    save([xIn, y, workspace]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, ws] = saved;
        return tf.engine().runKernel(POOL_GRAD_WITH_WORKSPACE, { x: xs, y: ys, dy, workspace: ws }, { size }) as tf.Tensor4D;
      },
    };
  });
  return layer(x) as tf.Tensor4D;
}

/** dz, the filter and the bias gradients: one kernel on native TensorFlow with oneDNN, two elsewhere. */
function weightGrads(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  y: tf.Tensor4D,
  dy: tf.Tensor4D,
  alpha: number,
): [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D] {
  if (tf.getKernel(CONV_WEIGHT_GRADS, tf.getBackend()) != null) {
    const attrs = { alpha, filterShape: w.shape, pad: 'valid' };
    return tf.engine().runKernel(CONV_WEIGHT_GRADS, { x, y, dy }, attrs) as unknown as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
  }
  const [dz, db] = actBiasGrad(y, dy, alpha);
  const dw = tf
    .engine()
    .runKernel(
      'Conv2DBackpropFilter',
      { x, dy: dz },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: w.shape },
    ) as tf.Tensor4D;
  return [dz, dw, db];
}

/** dz and the bias gradient: one kernel on WASM and native TensorFlow (blankspot's), plain ops on cpu. */
function actBiasGrad(y: tf.Tensor4D, dy: tf.Tensor4D, alpha: number): [tf.Tensor4D, tf.Tensor1D] {
  if (tf.getKernel(ACT_BIAS_GRAD, tf.getBackend()) != null) {
    return tf.engine().runKernel(ACT_BIAS_GRAD, { y, dy }, { alpha }) as unknown as [tf.Tensor4D, tf.Tensor1D];
  }
  const dz = tf.where(tf.greater(y, 0), dy, tf.mul(dy, alpha)) as tf.Tensor4D;
  return [dz, tf.sum(dz, [0, 1, 2]) as tf.Tensor1D];
}

/** A pretrained conv with its folded batch norm, padded as Keras pads it, and ReLU6 where it has one. */
function mobileConvLayer(x: tf.Tensor4D, params: Params, layer: Extract<Layer, { op: 'mobileConv' }>): tf.Tensor4D {
  const w = params[layer.kernel] as tf.Tensor4D;
  const k = w.shape[0];
  const before = layer.stride === 1 ? (k - 1) / 2 : 0;
  const after = layer.stride === 1 ? (k - 1) / 2 : k - 1 - (k - 1) / 2;
  const padded =
    k === 1
      ? x
      : tf.pad(x, [
          [0, 0],
          [before, after],
          [before, after],
          [0, 0],
        ]);
  const activation = layer.relu6 ? 'relu6' : 'linear';
  const bias = params[layer.bias];
  return layer.depthwise
    ? tf.fused.depthwiseConv2d({ x: padded, filter: w, strides: layer.stride, pad: 'valid', bias, activation })
    : tf.fused.conv2d({ x: padded, filter: w, strides: layer.stride, pad: 'valid', bias, activation });
}

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** Localisers: heatmap logits [N,H,W], one per grid cell (sigmoid gives the share covered). */
  heatmapLogits?: tf.Tensor3D;
  /** Post-activation feature maps of each conv layer, for the dead-unit ("black hole") measure. */
  activations: tf.Tensor4D[];
}

function slopeOf(layer: Layer | undefined): number | null {
  if (layer?.op === 'relu') return 0;
  if (layer?.op === 'leakyRelu') return layer.alpha;
  return null;
}

/** Each pixel repeated factor x factor times: the same as nearest-neighbour resizing by a whole factor. */
function upsampleLayer(x: tf.Tensor4D, f: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  // Along the width, then the height, each as a rank-4 tile (tfjs has no gradient for a rank-6 one).
  const wide = tf.reshape(tf.tile(tf.reshape(x, [b * h, w, 1, c]), [1, 1, f, 1]), [b, h, 1, w * f * c]);
  return tf.reshape(tf.tile(wide, [1, 1, f, 1]), [b, h * f, w * f, c]);
}

/**
 * A localiser's head: one logit per grid cell (a 1x1 conv, plus the set-aside stream's when it reads
 * one), and the anomaly logit (the top cell's plus a bias) against a fixed 0 for the clean class.
 */
function heatmapLayer(
  x: tf.Tensor4D,
  params: Params,
  layer: Extract<Layer, { op: 'heatmap' }>,
  aside: tf.Tensor4D | null,
): { logits: tf.Tensor2D; heatmapLogits: tf.Tensor3D } {
  const [n, h, w, c] = x.shape;
  let cells = denseLayer(tf.reshape(x, [n * h * w, c]), tf.reshape(params[layer.kernel], [c, 1]), params[layer.bias]);
  if (layer.asideKernel != null && aside != null) {
    const ca = aside.shape[3];
    cells = tf.add(cells, tf.matMul(tf.reshape(aside, [n * h * w, ca]), tf.reshape(params[layer.asideKernel], [ca, 1])));
  }
  const anomaly = tf.add(tf.max(tf.reshape(cells, [n, h * w]), 1, true), params[layer.detectBias]);
  return { logits: tf.concat([tf.zerosLike(anomaly), anomaly], 1) as tf.Tensor2D, heatmapLogits: tf.reshape(cells, [n, h, w]) };
}

/** Logits (everything but the final softmax) for a batch of inputs shaped [N,S,S,1] or [N,S*S] (S the spec's inputSize). */
export function forward(spec: NetworkSpec, params: Params, input: tf.Tensor): ForwardResult {
  const n = input.shape[0];
  let x: tf.Tensor = tf.reshape(input, [n, spec.inputSize, spec.inputSize, 1]);
  const activations: tf.Tensor4D[] = [];
  let heatmapLogits: tf.Tensor3D | undefined;
  let firstConv = true;
  let kept: tf.Tensor | null = null;
  let aside: tf.Tensor4D | null = null;
  const layers = spec.layers;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    switch (layer.op) {
      case 'conv': {
        // A conv and the activation after it run as one layer with a hand-written backward step.
        const slope = slopeOf(layers[i + 1]);
        if (slope == null) throw new Error(`${spec.name}: a conv must be followed by relu or leakyRelu`);
        const p = layer.pad ?? 0;
        if (p > 0)
          x = tf.pad(x, [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ]);
        x = convLayer(
          x as tf.Tensor4D,
          params[layer.kernel] as tf.Tensor4D,
          params[layer.bias] as tf.Tensor1D,
          slope,
          !firstConv,
        );
        activations.push(x as tf.Tensor4D);
        firstConv = false;
        i++;
        break;
      }
      case 'relu':
        x = tf.relu(x);
        break;
      case 'leakyRelu':
        x = tf.leakyRelu(x, layer.alpha);
        break;
      case 'maxPool':
        x = maxPoolLayer(x as tf.Tensor4D, layer.size);
        break;
      case 'flatten':
        x = tf.reshape(x, [n, -1]);
        break;
      case 'dense':
        x = denseLayer(x as tf.Tensor2D, params[layer.kernel] as tf.Tensor2D, params[layer.bias]);
        break;
      case 'mobileConv':
        x = mobileConvLayer(x as tf.Tensor4D, params, layer);
        // A conv after a trained (not frozen) stream must pass its input gradient back into it.
        if (!spec.params.find((p) => p.name === layer.kernel)?.frozen) firstConv = false;
        break;
      case 'avgPool':
        x = tf.avgPool(x as tf.Tensor4D, layer.size, layer.size, 'valid');
        break;
      case 'upsample':
        x = upsampleLayer(x as tf.Tensor4D, layer.factor);
        break;
      case 'keep':
        kept = x;
        break;
      case 'addKept':
        if (kept == null) throw new Error(`${spec.name}: addKept without a keep before it`);
        x = tf.add(x, kept);
        kept = null;
        break;
      case 'setAside':
        aside = x as tf.Tensor4D;
        x = tf.reshape(input, [n, spec.inputSize, spec.inputSize, 1]);
        firstConv = true;
        break;
      case 'heatmap': {
        if (layer.asideKernel != null && aside == null)
          throw new Error(`${spec.name}: the heatmap reads a stream nothing set aside`);
        ({ logits: x, heatmapLogits } = heatmapLayer(x as tf.Tensor4D, params, layer, aside));
        break;
      }
      case 'softmax':
        if (i !== layers.length - 1) throw new Error(`${spec.name}: softmax must be the last layer`);
        break;
    }
  }
  return { logits: x as tf.Tensor2D, activations, heatmapLogits };
}

/** Softmax probabilities, the model contract's `prob`. */
export function predict(spec: NetworkSpec, params: Params, input: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(forward(spec, params, input).logits));
}

/**
 * The localiser's second loss: sigmoid cross-entropy of each cell's logit against the share of the
 * cell the rectangle covers, summed over cells and weighted per example (0 for rectangles nobody can
 * see, which would otherwise teach it to flag plain white). Summed, not averaged, over examples.
 */
export function heatmapLossSum(logits: tf.Tensor3D, coverage: tf.Tensor3D, weights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    // max(z,0) - z*t + log(1 + exp(-|z|)): the stable form.
    const z = logits;
    const perCell = tf.add(tf.sub(tf.relu(z), tf.mul(z, coverage)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
    return tf.sum(tf.mul(tf.sum(perCell, [1, 2]), weights)) as tf.Scalar;
  });
}

/** Per-example loss and its gradient: the backend's fused kernel when it has one, else tfjs ops. */
function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): [tf.Tensor1D, tf.Tensor2D] {
  if (tf.getKernel(SOFTMAX_XENT, tf.getBackend()) != null) {
    return tf.engine().runKernel(SOFTMAX_XENT, { logits, labels }) as unknown as [tf.Tensor1D, tf.Tensor2D];
  }
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    const logp = tf.logSoftmax(logits);
    return [tf.neg(tf.sum(tf.mul(oneHot, logp), 1)), tf.sub(tf.exp(logp), oneHot)] as [tf.Tensor1D, tf.Tensor2D];
  });
}

/**
 * The softmax cross-entropy summed over examples, with its gradient (softmax minus one-hot) written
 * out, and the per-example losses (kept, for the caller to dispose): the generic form costs about
 * twenty small ops forward and back per step, which is most of the logistic regression's step.
 */
export function crossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D): { sum: tf.Scalar; perExample: tf.Tensor1D } {
  let perExample: tf.Tensor1D | null = null;
  const loss = tf.customGrad((...args: unknown[]) => {
    const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [l, dz] = softmaxCrossEntropy(z, labels);
    save([dz]);
    perExample = tf.keep(l);
    return { value: tf.sum(l), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(saved[0], dy)] };
  });
  const sum = loss(logits) as tf.Scalar;
  return { sum, perExample: perExample as unknown as tf.Tensor1D };
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, NUM_CLASSES);
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logp), 1))) as tf.Scalar;
  });
}
