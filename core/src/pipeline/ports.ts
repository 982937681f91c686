/**
 * What the check needs from a runtime, and nothing more (the ports): each adapter (Node, Cloudflare
 * Workers, the browser) implements these in a few lines with that runtime's own image decoder and
 * ONNX Runtime build.
 */
import { MODEL_HEATMAP_NAME, MODEL_INPUT_NAME, MODEL_OUTPUT_NAME, inputShapeOf } from '../contract.js';
import type { BlockRead } from '../jpeg/index.js';
import type { FramedInput, Framing } from '../framing.js';
import { heatmapFromTensor, type Heatmap } from '../heatmap.js';
import type { ImageInfo } from '../image-format.js';
import type { ModelEntry, ModelManifest } from '../manifest.js';
import type { RgbaImage } from '../preprocess.js';

export interface ImageDecoder {
  /**
   * Decoded RGBA of the first frame, EXIF orientation applied, any colour model (CMYK, grey,
   * 16-bit) brought to 8-bit RGBA. The header was already checked against the limits.
   */
  decode(bytes: Uint8Array, info: ImageInfo): Promise<RgbaImage>;
  /** The core's `jpegToInput`, where the runtime can run it off the request's thread. */
  jpegToInput?(
    bytes: Uint8Array,
    orientation: number,
    framing: Framing,
    size: number,
    earlier?: BlockRead,
  ): Promise<(FramedInput & { blockRead?: BlockRead }) | null>;
  /**
   * The whole photo's model input (`full` framing) where the runtime computes it better than from
   * decoded pixels (the browser's WebGL shader); null to decode and preprocess as usual.
   */
  decodeToInput?(
    bytes: Uint8Array,
    info: ImageInfo,
    size: number,
  ): Promise<{ input: Float32Array; width: number; height: number } | null>;
}

export interface ModelOutputs {
  /** [N,2] softmax probabilities. */
  prob: Float32Array;
  /** Localisers: [N,H,W] scores per position. */
  heatmap?: Heatmap;
}

export interface InferenceSession {
  /** Runs a batch of n model inputs (n*S*S values, S the model's input side; `inputShapeOf` gives the tensor's shape). */
  run(input: Float32Array, n: number): Promise<ModelOutputs>;
  release(): Promise<void>;
}

export interface ModelRuntime {
  /** 'node', 'workerd', 'browser'... reported by /healthz. */
  name: string;
  decoder: ImageDecoder;
  readManifest(): Promise<ModelManifest>;
  /** The bytes of a model file named in the manifest. */
  readModelFile(file: string): Promise<Uint8Array>;
  /** A session for a model's bytes; `entry` says what it takes (its input side). */
  createSession(modelBytes: Uint8Array, entry: ModelEntry): Promise<InferenceSession>;
}

/** The model contract's outputs from an ONNX Runtime result (onnxruntime-node and -web share its shape). */
export function contractOutputs(out: Record<string, { data: unknown; dims: readonly number[] }>): ModelOutputs {
  const heat = out[MODEL_HEATMAP_NAME];
  return {
    prob: out[MODEL_OUTPUT_NAME].data as Float32Array,
    heatmap: heat ? heatmapFromTensor(heat) : undefined,
  };
}

/** What every build of ONNX Runtime (onnxruntime-node, -web, -web in Workers) has: its Tensor class. */
export interface OrtLike {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

/** An ONNX Runtime session, whichever build made it. */
export interface OrtSessionLike {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/**
 * The pipeline's session port over an ONNX Runtime session: the contract's input in, its outputs out.
 * The one wrapper every runtime adapter uses, so a change to the contract is made here once.
 */
export function ortSessionPort(ort: OrtLike, session: OrtSessionLike): InferenceSession {
  return {
    run: async (input, n) =>
      contractOutputs(await session.run({ [MODEL_INPUT_NAME]: new ort.Tensor('float32', input, inputShapeOf(input, n)) })),
    release: () => session.release(),
  };
}
