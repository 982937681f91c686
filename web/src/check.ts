/**
 * check(file): the same answer as the edge API's POST /v1/check, computed in the browser with the
 * core's preprocessing on the full-size decoded pixels (EXIF orientation applied by the browser).
 */
import {
  BlankspotError,
  LIMITS,
  MODEL_INPUT_NAME,
  ModelRegistry,
  checkImage,
  contractOutputs,
  inputShape,
  parseManifest,
  type CheckResult,
  type InferenceSession,
  type ModelEntry,
  type ModelInput,
  type ModelRuntime,
  type Sensitivity,
} from '@blankspot/core';
import { browserDecoder } from './decode.js';
import { hardwareWebGl } from './gpu-preprocess.js';
import { createSession, probeGpu, type Backend, type GpuInfo } from './runtime.js';

export type { CheckResult };

export interface CheckOptions {
  /** Folder holding manifest.json and the model files. */
  modelsUrl?: string | URL;
  /** Model name from the manifest (default: the manifest's default). */
  model?: string;
  /** How readily to flag: 'high', 'balanced' (default: the model's own threshold) or 'low', as the API's `?sensitivity=`. */
  sensitivity?: Sensitivity;
  /** Also return the 64x64 model input (for tests and debugging). */
  returnInput?: boolean;
  /**
   * Where the 64x64 input is computed: 'gpu' (a WebGL2 shader; the CPU where WebGL2 is missing),
   * 'cpu' (every pixel read back, then the core's preprocess) or 'auto' (default: the GPU when
   * WebGL runs on real hardware). The shader makes the whole photo's input only: a model under
   * `content` framing always gets its frame from the core.
   */
  preprocessOn?: 'gpu' | 'cpu' | 'auto';
}

const here = new URL('.', import.meta.url);
export const DEFAULTS = { modelsUrl: new URL('../models/', here), ortUrl: new URL('./ort/', here) };

/**
 * The browser's model runtime for one models folder: the manifest and model files fetched from it,
 * sessions on onnxruntime-web. Loading, the sha256 check and the model list are the core's
 * `ModelRegistry`, as in the API.
 */
function browserRuntime(modelsUrl: URL): ModelRuntime {
  return {
    name: 'browser',
    decoder: browserDecoder(false),
    async readManifest() {
      const res = await fetch(new URL('manifest.json', modelsUrl));
      if (!res.ok) throw new BlankspotError('MODEL_UNAVAILABLE', `cannot load the model list (${res.status})`);
      return parseManifest(await res.json());
    },
    async readModelFile(file) {
      const res = await fetch(new URL(file, modelsUrl));
      if (!res.ok) throw new BlankspotError('MODEL_UNAVAILABLE', `cannot load model file ${file} (${res.status})`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async createSession(bytes) {
      gpuInfo ??= probeGpu();
      const { session, ort, backend } = await createSession(bytes, DEFAULTS.ortUrl, await gpuInfo);
      const port: InferenceSession = {
        run: async (input, n) =>
          contractOutputs(await session.run({ [MODEL_INPUT_NAME]: new ort.Tensor('float32', input, inputShape(n)) })),
        release: () => session.release(),
      };
      backends.set(port, backend);
      return port;
    },
  };
}

const registries = new Map<string, Promise<ModelRegistry>>();
const backends = new WeakMap<InferenceSession, Backend>();
let gpuInfo: Promise<GpuInfo> | null = null;

/**
 * A model of a folder, loaded once per page. A folder whose list or model failed to load is
 * forgotten, so the next check tries again (a deploy fixed, a network back).
 */
async function load(modelsUrl: URL, name?: string): Promise<{ entry: ModelEntry; session: InferenceSession; backend: Backend }> {
  let registry = registries.get(modelsUrl.href);
  if (!registry) {
    registry = ModelRegistry.load(browserRuntime(modelsUrl), { first: name });
    registries.set(modelsUrl.href, registry);
  }
  const models = await registry;
  try {
    const model = await models.get(name);
    return { ...model, backend: backends.get(model.session)! };
  } catch (e) {
    registries.delete(modelsUrl.href);
    // The load's own error (a sha256 mismatch is BAD_MODEL_FILE), not the API's 503 wrapper.
    throw models.list().find((m) => m.entry.name === (name ?? models.defaultName))?.failure ?? e;
  }
}

let counter = 0;

export async function check(
  file: Blob,
  options: CheckOptions = {},
): Promise<CheckResult & { input?: Float32Array; backend: Backend; preprocessedOn: 'gpu' | 'cpu' }> {
  const t0 = performance.now();
  const bytes = new Uint8Array(await file.arrayBuffer());
  const modelUrl = new URL(String(options.modelsUrl ?? DEFAULTS.modelsUrl), document.baseURI);
  const model = await load(modelUrl, options.model);
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
  const model = await load(new URL(String(options.modelsUrl ?? DEFAULTS.modelsUrl), document.baseURI), options.model);
  return { backend: model.backend, gpu: await (gpuInfo ?? probeGpu()) };
}
