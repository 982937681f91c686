/**
 * Writes a blankspot network as an ONNX model with the maintained protobuf definition of ONNX
 * (onnx-proto), in the conventional forms other runtimes expect: NCHW, Conv with OIHW weights,
 * Gemm with transB=1 (as PyTorch exports Linear), opset 13.
 */
import onnxProto from 'onnx-proto';
import { Float16Array, setFloat16 } from '@petamoriken/float16';
import type { onnx as proto } from 'onnx-proto';
import { MODEL_HEATMAP_NAME, MODEL_INPUT_NAME, MODEL_OUTPUT_NAME, NUM_CLASSES } from '@blankspot/core';
import type { NetworkSpec } from '@blankspot/training';

// onnx-proto is CommonJS: its namespace comes through the default import.
const { onnx } = onnxProto;

export const OPSET = 13;
/** IR version 8 is what onnx-proto defines and what every runtime of the last years reads. */
export const IR_VERSION = 8;

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function tensor(name: string, dims: number[], values: Float32Array): proto.ITensorProto {
  return {
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
  };
}

function ints(name: string, values: number[]): proto.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function int(name: string, value: number): proto.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function float(name: string, value: number): proto.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

function valueInfo(name: string, dims: Array<number | string>): proto.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** HWIO (TensorFlow.js) to OIHW (ONNX) conv weights. */
export function hwioToOihw(w: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + x] = w[((h * kw + x) * ci + i) * co + o];
  return out;
}

/**
 * A dense kernel [F,K] that reads features flattened from NHWC (TensorFlow.js) to the [K,F] Gemm
 * B (transB=1) that reads them flattened from NCHW (ONNX): the feature order differs.
 */
export function denseToGemmB(w: Float32Array, [features, outputs]: number[], chw: [number, number, number]): Float32Array {
  const [C, H, W] = chw;
  if (C * H * W !== features) throw new Error(`dense layer expects ${features} features, the graph gives ${C * H * W}`);
  const out = new Float32Array(w.length);
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++)
      for (let x = 0; x < W; x++) {
        const nhwc = (h * W + x) * C + c;
        const nchw = (c * H + h) * W + x;
        for (let k = 0; k < outputs; k++) out[k * features + nchw] = w[nhwc * outputs + k];
      }
  return out;
}

export interface OnnxModelInput {
  spec: NetworkSpec;
  values: Record<string, Float32Array>;
  /** Stored as metadata_props: model name, version, training, scores, preprocessing... */
  metadata: Record<string, string>;
  producerVersion: string;
  docString?: string;
  /**
   * Declare the input's side (and the heatmap's) as any, not the trained one: a fully convolutional
   * network runs on a larger input as it is (a manifest's `closerLook`).
   */
  anySide?: boolean;
  /**
   * Platt scaling of the anomaly logit (a localiser's only): `prob` becomes softmax(0, scale * z + shift),
   * so every runtime that loads the file reads calibrated scores. The heatmap is left as trained.
   */
  calibration?: { scale: number; shift: number };
  /**
   * How the trained weights are stored: float32, or float16 (half the bytes) with a Cast to float32
   * in front of each, which runtimes fold into float32 weights when they load the file. The values
   * should already be float16 numbers (`roundedToFloat16`), or storing them rounds them.
   */
  weights?: WeightType;
}

export type WeightType = 'float32' | 'float16';

/** Each value rounded to the nearest float16 number, kept as float32: what a float16 file holds. */
export function roundedToFloat16(values: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(values).map(([name, v]) => [name, new Float32Array(new Float16Array(v))]));
}

/**
 * The named float32 initializers stored as float16 under `<name>/float16`, each cast back to float32
 * under its own name by a Cast node ahead of the graph's nodes.
 */
function storeAsFloat16(initializers: proto.ITensorProto[], names: Set<string>): proto.INodeProto[] {
  const casts: proto.INodeProto[] = [];
  for (const t of initializers) {
    if (!names.has(t.name ?? '') || t.dataType !== FLOAT || !t.rawData) continue;
    const raw = t.rawData;
    const floats = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const half = new Uint8Array(floats.length * 2);
    const view = new DataView(half.buffer);
    // ONNX raw data is little-endian.
    for (let i = 0; i < floats.length; i++) setFloat16(view, i * 2, floats[i], true);
    const stored = `${t.name}/float16`;
    casts.push({ opType: 'Cast', name: `${t.name}/cast`, input: [stored], output: [t.name!], attribute: [int('to', FLOAT)] });
    t.name = stored;
    t.dataType = onnx.TensorProto.DataType.FLOAT16;
    t.rawData = half;
  }
  return casts;
}

type Layer = NetworkSpec['layers'][number];
type Heatmap = Extract<Layer, { op: 'heatmap' }>;

/**
 * A network's layers as ONNX nodes, one layer at a time: the nodes, their weights, and the shape of the
 * running value (without the batch: [C,H,W], or [F] after a flatten).
 */
class GraphBuilder {
  readonly nodes: proto.INodeProto[] = [];
  readonly initializers: proto.ITensorProto[] = [];
  shape: number[];
  current = MODEL_INPUT_NAME;
  heatmapShape: [number, number, number] | null = null;
  private flattenedFrom: [number, number, number] | null = null;
  /** The value a residual block's `addKept` adds back, and the stream `setAside` put by (name and [C,H,W]). */
  private kept: string | null = null;
  private aside: { name: string; shape: number[] } | null = null;
  private k = 0;
  private readonly shapes: Record<string, number[]>;

  constructor(
    private readonly spec: NetworkSpec,
    private readonly values: Record<string, Float32Array>,
    private readonly calibration?: { scale: number; shift: number },
  ) {
    this.shapes = Object.fromEntries(spec.params.map((p) => [p.name, p.shape]));
    this.shape = [1, spec.inputSize, spec.inputSize];
  }

  next(op: string): string {
    return `${op.toLowerCase()}_${this.k++}`;
  }

  private param(name: string): Float32Array {
    const v = this.values[name];
    if (v == null) throw new Error(`${this.spec.name}: parameter ${name} is missing`);
    return v;
  }

  private node(opType: string, name: string, input: string[], attribute: proto.IAttributeProto[] = []): void {
    this.nodes.push({ opType, name, input, output: [name], ...(attribute.length ? { attribute } : {}) });
  }

  /** Adds one layer, its output named `out`. */
  add(layer: Layer, out: string): void {
    const input = this.current;
    switch (layer.op) {
      case 'conv':
        this.conv(layer, out);
        break;
      case 'relu':
        this.node('Relu', out, [input]);
        break;
      case 'leakyRelu':
        this.node('LeakyRelu', out, [input], [float('alpha', layer.alpha)]);
        break;
      case 'maxPool':
        this.pool('MaxPool', layer.size, out);
        break;
      case 'flatten':
        this.node('Flatten', out, [input], [int('axis', 1)]);
        this.flattenedFrom = this.shape as [number, number, number];
        this.shape = [this.shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense':
        this.dense(layer, out);
        break;
      case 'heatmap':
        this.heatmap(layer, out);
        break;
      case 'mobileConv':
        this.mobileConv(layer, out);
        break;
      case 'avgPool':
        this.pool('AveragePool', layer.size, out);
        break;
      case 'upsample':
        this.upsample(layer.factor, out);
        break;
      case 'keep':
        this.kept = input;
        return;
      case 'addKept':
        if (this.kept == null) throw new Error(`${this.spec.name}: addKept without a keep before it`);
        this.node('Add', out, [input, this.kept]);
        this.kept = null;
        break;
      case 'setAside':
        this.aside = { name: input, shape: this.shape };
        this.current = MODEL_INPUT_NAME;
        this.shape = [1, this.spec.inputSize, this.spec.inputSize];
        return;
      case 'softmax':
        this.node('Softmax', out, [input], [int('axis', 1)]);
        break;
    }
    this.current = out;
  }

  private conv(layer: Extract<Layer, { op: 'conv' }>, out: string): void {
    const [kh, kw, ci, co] = this.shapes[layer.kernel];
    const pad = layer.pad ?? 0;
    this.initializers.push(
      tensor(layer.kernel, [co, ci, kh, kw], hwioToOihw(this.param(layer.kernel), this.shapes[layer.kernel])),
      tensor(layer.bias, [co], this.param(layer.bias)),
    );
    this.node(
      'Conv',
      out,
      [this.current, layer.kernel, layer.bias],
      [
        ints('kernel_shape', [kh, kw]),
        ints('strides', [1, 1]),
        ints('pads', [pad, pad, pad, pad]),
        ints('dilations', [1, 1]),
        int('group', 1),
      ],
    );
    this.shape = [co, this.shape[1] + 2 * pad - kh + 1, this.shape[2] + 2 * pad - kw + 1];
  }

  /** Conv (grouped per channel when depthwise) with Keras's padding, then Clip(0, 6) where it has ReLU6. */
  private mobileConv(layer: Extract<Layer, { op: 'mobileConv' }>, out: string): void {
    const shape = this.shapes[layer.kernel];
    const [kh, kw, ci, co] = shape;
    const channels = layer.depthwise ? ci : co;
    // Stride 1: (k-1)/2 on every side; stride 2: none before, k-1-(k-1)/2 after (Keras's ZeroPadding2D).
    const before = layer.stride === 1 ? (kh - 1) / 2 : 0;
    const after = layer.stride === 1 ? (kh - 1) / 2 : kh - 1 - (kh - 1) / 2;
    // A depthwise kernel [k,k,C,1] read as HWIO is [1,C,k,k] in OIHW order: the same bytes as [C,1,k,k].
    this.initializers.push(
      tensor(layer.kernel, layer.depthwise ? [ci, 1, kh, kw] : [co, ci, kh, kw], hwioToOihw(this.param(layer.kernel), shape)),
      tensor(layer.bias, [channels], this.param(layer.bias)),
    );
    const conv = layer.relu6 ? this.next('conv') : out;
    this.node(
      'Conv',
      conv,
      [this.current, layer.kernel, layer.bias],
      [
        ints('kernel_shape', [kh, kw]),
        ints('strides', [layer.stride, layer.stride]),
        ints('pads', [before, before, after, after]),
        ints('dilations', [1, 1]),
        int('group', layer.depthwise ? ci : 1),
      ],
    );
    if (layer.relu6) {
      if (!this.initializers.some((t) => t.name === 'relu6/min')) {
        this.initializers.push(tensor('relu6/min', [], new Float32Array([0])), tensor('relu6/max', [], new Float32Array([6])));
      }
      this.node('Clip', out, [conv, 'relu6/min', 'relu6/max']);
    }
    const side = (s: number) => Math.floor((s + before + after - kh) / layer.stride) + 1;
    this.shape = [channels, side(this.shape[1]), side(this.shape[2])];
  }

  /** size x size pooling (MaxPool or AveragePool), valid, stride size. */
  private pool(opType: 'MaxPool' | 'AveragePool', size: number, out: string): void {
    this.node(
      opType,
      out,
      [this.current],
      [ints('kernel_shape', [size, size]), ints('strides', [size, size]), ints('pads', [0, 0, 0, 0])],
    );
    this.shape = [this.shape[0], Math.floor(this.shape[1] / size), Math.floor(this.shape[2] / size)];
  }

  /** Nearest-neighbour Resize by a whole factor: output pixel i reads input pixel floor(i / factor). */
  private upsample(factor: number, out: string): void {
    const scales = `upsample/scales_${factor}`;
    if (!this.initializers.some((t) => t.name === scales))
      this.initializers.push(tensor(scales, [4], new Float32Array([1, 1, factor, factor])));
    this.node(
      'Resize',
      out,
      [this.current, '', scales],
      [
        { name: 'mode', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode('nearest') },
        {
          name: 'coordinate_transformation_mode',
          type: onnx.AttributeProto.AttributeType.STRING,
          s: new TextEncoder().encode('asymmetric'),
        },
        { name: 'nearest_mode', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode('floor') },
      ],
    );
    this.shape = [this.shape[0], this.shape[1] * factor, this.shape[2] * factor];
  }

  private dense(layer: Extract<Layer, { op: 'dense' }>, out: string): void {
    const [features, outputs] = this.shapes[layer.kernel];
    if (this.flattenedFrom == null) throw new Error(`${this.spec.name}: dense layer without a flatten before it`);
    this.initializers.push(
      tensor(
        layer.kernel,
        [outputs, features],
        denseToGemmB(this.param(layer.kernel), this.shapes[layer.kernel], this.flattenedFrom),
      ),
      tensor(layer.bias, [outputs], this.param(layer.bias)),
    );
    this.node(
      'Gemm',
      out,
      [this.current, layer.kernel, layer.bias],
      [float('alpha', 1), float('beta', 1), int('transA', 0), int('transB', 1)],
    );
    this.shape = [outputs];
  }

  /** 1x1 conv to one logit per cell; `heatmap` is its sigmoid; the anomaly logit is the top cell's + b (then calibrated). */
  private heatmap(layer: Heatmap, out: string): void {
    const [, , ci] = this.shapes[layer.kernel];
    const logits = this.next('heat_logits');
    this.initializers.push(
      tensor(layer.kernel, [1, ci, 1, 1], hwioToOihw(this.param(layer.kernel), this.shapes[layer.kernel])),
      tensor(layer.bias, [1], this.param(layer.bias)),
      tensor(layer.detectBias, [1], this.param(layer.detectBias)),
    );
    const attributes = [ints('kernel_shape', [1, 1]), ints('strides', [1, 1]), ints('pads', [0, 0, 0, 0]), int('group', 1)];
    if (layer.asideKernel == null) this.node('Conv', logits, [this.current, layer.kernel, layer.bias], attributes);
    else {
      // Two streams into one 1x1 conv: the running stream's logits plus the set-aside stream's.
      if (this.aside == null) throw new Error(`${this.spec.name}: the heatmap reads a stream nothing set aside`);
      const [, , ca] = this.shapes[layer.asideKernel];
      this.initializers.push(
        tensor(layer.asideKernel, [1, ca, 1, 1], hwioToOihw(this.param(layer.asideKernel), this.shapes[layer.asideKernel])),
      );
      const own = this.next('conv');
      const other = this.next('conv');
      this.node('Conv', own, [this.current, layer.kernel, layer.bias], attributes);
      this.node('Conv', other, [this.aside.name, layer.asideKernel], attributes);
      this.node('Add', logits, [own, other]);
    }
    this.node('Sigmoid', MODEL_HEATMAP_NAME, [logits]);
    this.heatmapShape = [1, this.shape[1], this.shape[2]];
    // GlobalMaxPool, not ReduceMax over three axes: every runtime (OpenCV DNN too) has it.
    const top = this.next('globalmaxpool');
    this.node('GlobalMaxPool', top, [logits]);
    const flat = this.next('flatten');
    this.node('Flatten', flat, [top], [int('axis', 1)]);
    let anomaly = this.next('add');
    this.node('Add', anomaly, [flat, layer.detectBias]);
    if (this.calibration) {
      this.initializers.push(
        tensor('calibration/scale', [1], new Float32Array([this.calibration.scale])),
        tensor('calibration/shift', [1], new Float32Array([this.calibration.shift])),
      );
      const scaled = this.next('mul');
      this.node('Mul', scaled, [anomaly, 'calibration/scale']);
      anomaly = this.next('add');
      this.node('Add', anomaly, [scaled, 'calibration/shift']);
    }
    const zero = this.next('sub');
    this.node('Sub', zero, [anomaly, anomaly]);
    this.node('Concat', out, [zero, anomaly], [int('axis', 1)]);
    this.shape = [NUM_CLASSES];
  }
}

/** The ONNX model as bytes. */
export function buildOnnxModel({
  spec,
  values,
  metadata,
  producerVersion,
  docString,
  anySide,
  calibration,
  weights = 'float32',
}: OnnxModelInput): Uint8Array {
  const graph = new GraphBuilder(spec, values, calibration);
  for (const [i, layer] of spec.layers.entries())
    graph.add(layer, i === spec.layers.length - 1 ? MODEL_OUTPUT_NAME : graph.next(layer.op));
  if (calibration && graph.heatmapShape == null) throw new Error(`${spec.name}: only a localiser's score can be calibrated`);
  if (graph.current !== MODEL_OUTPUT_NAME || graph.shape.length !== 1 || graph.shape[0] !== NUM_CLASSES) {
    throw new Error(`${spec.name}: the graph must end in a softmax over ${NUM_CLASSES} classes`);
  }
  const heatmapShape = graph.heatmapShape;
  const casts = weights === 'float16' ? storeAsFloat16(graph.initializers, new Set(spec.params.map((p) => p.name))) : [];
  const model: proto.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'blankspot',
    producerVersion,
    domain: 'blankspot',
    modelVersion: 1,
    docString: docString ?? spec.description,
    graph: {
      name: spec.name,
      node: [...casts, ...graph.nodes],
      initializer: graph.initializers,
      input: [valueInfo(MODEL_INPUT_NAME, anySide ? ['N', 1, 'H', 'W'] : ['N', 1, spec.inputSize, spec.inputSize])],
      output: [
        valueInfo(MODEL_OUTPUT_NAME, ['N', NUM_CLASSES]),
        ...(heatmapShape ? [valueInfo(MODEL_HEATMAP_NAME, anySide ? ['N', 1, 'h', 'w'] : ['N', ...heatmapShape])] : []),
      ],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Reads metadata_props back from ONNX bytes. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}
