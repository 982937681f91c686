/** The widget's models: the core's ModelRegistry over a browser runtime (fetch, onnxruntime-web). */
import {
  BlankspotError,
  ModelRegistry,
  inputSizeOf,
  modelFolder,
  ortSessionPort,
  type InferenceSession,
  type ModelEntry,
  type ModelRuntime,
} from '@blankspot/core';
import { browserDecoder } from './decode.js';
import { createSession, probeGpu, type Backend, type GpuInfo } from './runtime.js';

/**
 * The browser's model runtime for one models folder: the manifest and model files fetched from it,
 * sessions on onnxruntime-web. Loading, the sha256 check and the model list are the core's
 * `ModelRegistry`, as in the API.
 */
function browserRuntime(modelsUrl: URL, ortUrl: URL): ModelRuntime {
  return {
    name: 'browser',
    decoder: browserDecoder(false),
    ...modelFolder(async (file) => {
      let res: Response;
      try {
        res = await fetch(new URL(file, modelsUrl));
      } catch (e) {
        throw new BlankspotError('MODEL_UNAVAILABLE', `cannot reach ${modelsUrl.href}`, { cause: e });
      }
      // A folder that is not there at all (every file 404) reads as a missing manifest.
      return res.ok ? new Uint8Array(await res.arrayBuffer()) : null;
    }, modelsUrl.href),
    async createSession(bytes, entry) {
      const { session, ort, backend } = await createSession(bytes, ortUrl, await gpuInfo(), inputSizeOf(entry));
      const port = ortSessionPort(ort, session);
      backends.set(port, backend);
      return port;
    },
  };
}

const registries = new Map<string, Promise<ModelRegistry>>();
const backends = new WeakMap<InferenceSession, Backend>();
let gpu: Promise<GpuInfo> | null = null;

/** What the page's GPU is (probed once). */
export function gpuInfo(): Promise<GpuInfo> {
  return (gpu ??= probeGpu());
}

/**
 * A model of a folder, loaded once per page. A folder whose list or model failed to load is
 * forgotten, so the next check tries again (a deploy fixed, a network back).
 */
export async function loadModel(
  modelsUrl: URL,
  name: string | undefined,
  ortUrl: URL,
): Promise<{ entry: ModelEntry; session: InferenceSession; backend: Backend }> {
  let registry = registries.get(modelsUrl.href);
  if (!registry) {
    registry = ModelRegistry.load(browserRuntime(modelsUrl, ortUrl), { first: name });
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
