/**
 * ONNX Runtime Web in the seller's browser, loaded on the first photo. WebGPU is used only when the
 * browser has a real GPU adapter (not a software fallback) and it runs this model faster than WASM;
 * otherwise single-threaded WASM, which needs no cross-origin isolation from the host page.
 */
import type * as Ort from 'onnxruntime-web';
import { INPUT_SIZE, inputShape } from '@blankspot/core';

export type Backend = 'wasm' | 'webgpu';

export interface GpuInfo {
  /** navigator.gpu exists. */
  api: boolean;
  /** An adapter was granted. */
  adapter: boolean;
  /** The adapter is a software fallback (e.g. SwiftShader). */
  fallback: boolean;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; vendor?: string; architecture?: string; description?: string };
}

/** What WebGPU this browser really has (`navigator.gpu` by default). */
export async function probeGpu(
  gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } | undefined)?.gpu,
): Promise<GpuInfo> {
  if (!gpu) return { api: false, adapter: false, fallback: false };
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return { api: true, adapter: false, fallback: false };
  const info = adapter.info ?? {};
  // Chrome marks software adapters with isFallbackAdapter; SwiftShader also names itself.
  const software = /swiftshader|llvmpipe|software|microsoft basic render/i.test(
    `${info.vendor} ${info.architecture} ${info.description}`,
  );
  return { api: true, adapter: true, fallback: Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter || software) };
}

export interface LoadedModel {
  backend: Backend;
  session: Ort.InferenceSession;
  ort: typeof Ort;
}

async function loadOrt(backend: Backend, ortBase: URL): Promise<typeof Ort> {
  const ort = (
    backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm')
  ) as typeof Ort;
  ort.env.wasm.wasmPaths = ortBase.href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  return ort;
}

async function timeRuns(session: Ort.InferenceSession, ort: typeof Ort, inputSize: number, runs = 5): Promise<number> {
  const input = new ort.Tensor('float32', new Float32Array(inputSize * inputSize).fill(0.5), inputShape(1, inputSize));
  await session.run({ image: input });
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run({ image: input });
  return (performance.now() - t0) / runs;
}

/**
 * A session on the backend that serves this browser: WASM, unless a real (not software) GPU adapter
 * runs the model faster. `load` is how a backend's build of ONNX Runtime is loaded (tests pass their own).
 */
export async function createSession(
  modelBytes: Uint8Array,
  ortBase: URL,
  gpu: GpuInfo,
  inputSize = INPUT_SIZE,
  load: (backend: Backend, ortBase: URL) => Promise<typeof Ort> = loadOrt,
): Promise<LoadedModel> {
  const wasmOrt = await load('wasm', ortBase);
  const wasm = await wasmOrt.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  if (!gpu.adapter || gpu.fallback) return { backend: 'wasm', session: wasm, ort: wasmOrt };
  try {
    const gpuOrt = await load('webgpu', ortBase);
    const webgpu = await gpuOrt.InferenceSession.create(modelBytes, { executionProviders: ['webgpu'] });
    // Tiny models often run faster on the CPU than through a GPU round trip: keep whichever wins.
    if ((await timeRuns(webgpu, gpuOrt, inputSize)) < (await timeRuns(wasm, wasmOrt, inputSize))) {
      await wasm.release();
      return { backend: 'webgpu', session: webgpu, ort: gpuOrt };
    }
    await webgpu.release();
  } catch {
    // A GPU that fails to run the model leaves WASM in charge.
  }
  return { backend: 'wasm', session: wasm, ort: wasmOrt };
}
