/**
 * Writes a blankspot network as an ONNX model with the maintained protobuf definition of ONNX
 * (onnx-proto), in the conventional forms other runtimes expect: NCHW, Conv with OIHW weights,
 * Gemm with transB=1 (as PyTorch exports Linear), opset 13.
 */
import onnxProto from 'onnx-proto';
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
   * network runs on a larger input as it is (a manifest's `zoom`).
   */
  anySide?: boolean;
  /**
   * Platt scaling of the anomaly logit (a localiser's only): `prob` becomes softmax(0, scale * z + shift),
   * so every runtime that loads the file reads calibrated scores. The heatmap is left as trained.
   */
  calibration?: { scale: number; shift: number };
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
}: OnnxModelInput): Uint8Array {
  const shapes = Object.fromEntries(spec.params.map((p) => [p.name, p.shape]));
  const nodes: proto.INodeProto[] = [];
  const initializers: proto.ITensorProto[] = [];
  // Shape of the running value without the batch: [C,H,W] or [F].
  let shape: number[] = [1, spec.inputSize, spec.inputSize];
  let flattenedFrom: [number, number, number] | null = null;
  let heatmapShape: [number, number, number] | null = null;
  let current = MODEL_INPUT_NAME;
  let k = 0;
  const next = (op: string) => `${op.toLowerCase()}_${k++}`;
  const param = (name: string) => {
    const v = values[name];
    if (v == null) throw new Error(`${spec.name}: parameter ${name} is missing`);
    return v;
  };

  for (const [i, layer] of spec.layers.entries()) {
    const last = i === spec.layers.length - 1;
    const out = last ? MODEL_OUTPUT_NAME : next(layer.op);
    switch (layer.op) {
      case 'conv': {
        const [kh, kw, ci, co] = shapes[layer.kernel];
        const pad = layer.pad ?? 0;
        const w = `${layer.kernel}`;
        initializers.push(tensor(w, [co, ci, kh, kw], hwioToOihw(param(layer.kernel), shapes[layer.kernel])));
        initializers.push(tensor(layer.bias, [co], param(layer.bias)));
        nodes.push({
          opType: 'Conv',
          name: out,
          input: [current, w, layer.bias],
          output: [out],
          attribute: [
            ints('kernel_shape', [kh, kw]),
            ints('strides', [1, 1]),
            ints('pads', [pad, pad, pad, pad]),
            ints('dilations', [1, 1]),
            int('group', 1),
          ],
        });
        shape = [co, shape[1] + 2 * pad - kh + 1, shape[2] + 2 * pad - kw + 1];
        break;
      }
      case 'relu':
        nodes.push({ opType: 'Relu', name: out, input: [current], output: [out] });
        break;
      case 'leakyRelu':
        nodes.push({ opType: 'LeakyRelu', name: out, input: [current], output: [out], attribute: [float('alpha', layer.alpha)] });
        break;
      case 'maxPool':
        nodes.push({
          opType: 'MaxPool',
          name: out,
          input: [current],
          output: [out],
          attribute: [
            ints('kernel_shape', [layer.size, layer.size]),
            ints('strides', [layer.size, layer.size]),
            ints('pads', [0, 0, 0, 0]),
          ],
        });
        shape = [shape[0], Math.floor(shape[1] / layer.size), Math.floor(shape[2] / layer.size)];
        break;
      case 'flatten':
        nodes.push({ opType: 'Flatten', name: out, input: [current], output: [out], attribute: [int('axis', 1)] });
        flattenedFrom = shape as [number, number, number];
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense': {
        const [features, outputs] = shapes[layer.kernel];
        if (flattenedFrom == null) throw new Error(`${spec.name}: dense layer without a flatten before it`);
        initializers.push(
          tensor(layer.kernel, [outputs, features], denseToGemmB(param(layer.kernel), shapes[layer.kernel], flattenedFrom)),
        );
        initializers.push(tensor(layer.bias, [outputs], param(layer.bias)));
        nodes.push({
          opType: 'Gemm',
          name: out,
          input: [current, layer.kernel, layer.bias],
          output: [out],
          attribute: [float('alpha', 1), float('beta', 1), int('transA', 0), int('transB', 1)],
        });
        shape = [outputs];
        break;
      }
      case 'heatmap': {
        // 1x1 conv to one logit per cell; `heatmap` is its sigmoid; the anomaly logit is the top cell's + b.
        const [, , ci] = shapes[layer.kernel];
        const logits = next('heat_logits');
        initializers.push(tensor(layer.kernel, [1, ci, 1, 1], hwioToOihw(param(layer.kernel), shapes[layer.kernel])));
        initializers.push(tensor(layer.bias, [1], param(layer.bias)));
        initializers.push(tensor(layer.detectBias, [1], param(layer.detectBias)));
        nodes.push({
          opType: 'Conv',
          name: logits,
          input: [current, layer.kernel, layer.bias],
          output: [logits],
          attribute: [ints('kernel_shape', [1, 1]), ints('strides', [1, 1]), ints('pads', [0, 0, 0, 0]), int('group', 1)],
        });
        nodes.push({ opType: 'Sigmoid', name: MODEL_HEATMAP_NAME, input: [logits], output: [MODEL_HEATMAP_NAME] });
        heatmapShape = [1, shape[1], shape[2]];
        // GlobalMaxPool, not ReduceMax over three axes: every runtime (OpenCV DNN too) has it.
        const top = next('globalmaxpool');
        nodes.push({ opType: 'GlobalMaxPool', name: top, input: [logits], output: [top] });
        const flat = next('flatten');
        nodes.push({ opType: 'Flatten', name: flat, input: [top], output: [flat], attribute: [int('axis', 1)] });
        let anomaly = next('add');
        nodes.push({ opType: 'Add', name: anomaly, input: [flat, layer.detectBias], output: [anomaly] });
        if (calibration) {
          initializers.push(tensor('calibration/scale', [1], new Float32Array([calibration.scale])));
          initializers.push(tensor('calibration/shift', [1], new Float32Array([calibration.shift])));
          const scaled = next('mul');
          nodes.push({ opType: 'Mul', name: scaled, input: [anomaly, 'calibration/scale'], output: [scaled] });
          anomaly = next('add');
          nodes.push({ opType: 'Add', name: anomaly, input: [scaled, 'calibration/shift'], output: [anomaly] });
        }
        const zero = next('sub');
        nodes.push({ opType: 'Sub', name: zero, input: [anomaly, anomaly], output: [zero] });
        nodes.push({ opType: 'Concat', name: out, input: [zero, anomaly], output: [out], attribute: [int('axis', 1)] });
        shape = [NUM_CLASSES];
        break;
      }
      case 'softmax':
        nodes.push({ opType: 'Softmax', name: out, input: [current], output: [out], attribute: [int('axis', 1)] });
        break;
    }
    current = out;
  }
  if (calibration && heatmapShape == null) throw new Error(`${spec.name}: only a localiser's score can be calibrated`);
  if (current !== MODEL_OUTPUT_NAME || shape.length !== 1 || shape[0] !== NUM_CLASSES) {
    throw new Error(`${spec.name}: the graph must end in a softmax over ${NUM_CLASSES} classes`);
  }

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
      node: nodes,
      initializer: initializers,
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
