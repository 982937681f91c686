/**
 * check(file): the same answer as the edge API's POST /v1/check, computed in the browser with the
 * core's preprocessing on the full-size decoded pixels (EXIF orientation applied by the browser).
 */
import {
  LIMITS,
  checkImage,
  inputSizeOf,
  type CheckResult,
  type InferenceSession,
  type ModelInput,
  type Sensitivity,
} from '@blankspot/core';
import { browserDecoder } from './decode.js';
import { hardwareWebGl } from './gpu-preprocess.js';
import { gpuInfo, loadModel } from './models.js';
import type { Backend, GpuInfo } from './runtime.js';

export type { CheckResult };

export interface CheckOptions {
  /** Folder holding manifest.json and the model files. */
  modelsUrl?: string | URL;
  /** Model name from the manifest (default: the manifest's default). */
  model?: string;
  /** How readily to flag: 'high', 'balanced' (default: the model's own threshold) or 'low', as the API's `?sensitivity=`. */
  sensitivity?: Sensitivity;
  /** Also return the model input (64x64, or the side the model's manifest entry gives; for tests and debugging). */
  returnInput?: boolean;
  /**
   * Where the model input is computed: 'gpu' (a WebGL2 shader; the CPU where WebGL2 is missing),
   * 'cpu' (every pixel read back, then the core's preprocess) or 'auto' (default: the GPU when
   * WebGL runs on real hardware). The shader makes the whole photo's input only: a model under
   * `content` framing always gets its frame from the core.
   */
  preprocessOn?: 'gpu' | 'cpu' | 'auto';
}

const here = new URL('.', import.meta.url);
export const DEFAULTS = { modelsUrl: new URL('../models/', here), ortUrl: new URL('./ort/', here) };

let counter = 0;

const modelsUrlOf = (options: Pick<CheckOptions, 'modelsUrl'>) =>
  new URL(String(options.modelsUrl ?? DEFAULTS.modelsUrl), document.baseURI);

const warmed = new WeakSet<InferenceSession>();

/**
 * Loads ONNX Runtime and the model and runs the model once on a blank input, checking nothing: the
 * widget calls it when the file picker opens (or when the page is idle, `preload="idle"`), so the
 * first photo's check finds the runtime downloaded, compiled and its kernels warm.
 */
export async function prepare(options: Pick<CheckOptions, 'modelsUrl' | 'model'> = {}): Promise<void> {
  const { session, entry } = await loadModel(modelsUrlOf(options), options.model, DEFAULTS.ortUrl);
  if (warmed.has(session)) return;
  warmed.add(session);
  const side = inputSizeOf(entry);
  await session.run(new Float32Array(side * side), 1);
}

export async function check(
  file: Blob,
  options: CheckOptions = {},
): Promise<CheckResult & { input?: Float32Array; backend: Backend; preprocessedOn: 'gpu' | 'cpu' }> {
  const t0 = performance.now();
  const bytes = new Uint8Array(await file.arrayBuffer());
  const model = await loadModel(modelsUrlOf(options), options.model, DEFAULTS.ortUrl);
  const on = options.preprocessOn ?? 'auto';
  const gpu = on === 'gpu' || (on === 'auto' && hardwareWebGl());
  let made: ModelInput | undefined;
  const result = await checkImage(bytes, model, browserDecoder(gpu), LIMITS, {
    sensitivity: options.sensitivity,
    onInput: (m) => (made = m),
  });
  return {
    ...result,
    // From the file's bytes, as the API's total is from the request's.
    timings: { ...result.timings, totalMs: Math.round((performance.now() - t0) * 100) / 100 },
    requestId: `local-${++counter}`,
    backend: model.backend,
    preprocessedOn: made?.from === 'runtime' ? 'gpu' : 'cpu',
    ...(options.returnInput ? { input: made?.input } : {}),
  };
}

/** Which backend the widget uses here, and why (loads the runtime if it is not loaded yet). */
export async function runtimeInfo(options: CheckOptions = {}): Promise<{ backend: Backend; gpu: GpuInfo }> {
  const model = await loadModel(modelsUrlOf(options), options.model, DEFAULTS.ortUrl);
  return { backend: model.backend, gpu: await gpuInfo() };
}
