import { describe, expect, it } from 'vitest';
import type * as Ort from 'onnxruntime-web';
import { createSession, probeGpu, type Backend } from './runtime.js';

/** A stand-in for one backend's ONNX Runtime build: sessions that take `runMs` per run, or fail to create. */
function fakeOrt(runMs: number | 'fails', log: string[]): typeof Ort {
  return {
    env: { wasm: {} },
    Tensor: class {
      constructor(
        readonly type: string,
        readonly data: Float32Array,
        readonly dims: number[],
      ) {}
    },
    InferenceSession: {
      async create(_bytes: Uint8Array, options: { executionProviders: string[] }) {
        const ep = options.executionProviders[0];
        if (runMs === 'fails') throw new Error(`${ep} cannot run this model`);
        log.push(`create ${ep}`);
        return {
          ep,
          run: () => new Promise((resolve) => setTimeout(() => resolve({}), runMs)),
          release: async () => void log.push(`release ${ep}`),
        };
      },
    },
  } as unknown as typeof Ort;
}

const real = { api: true, adapter: true, fallback: false };
const choose = async (gpu: typeof real, wasmMs: number, gpuMs: number | 'fails') => {
  const log: string[] = [];
  const loaded: Backend[] = [];
  const load = async (backend: Backend) => {
    loaded.push(backend);
    return fakeOrt(backend === 'wasm' ? wasmMs : gpuMs, log);
  };
  const model = await createSession(new Uint8Array(4), new URL('https://cdn.example/ort/'), gpu, 128, load);
  return { backend: model.backend, ep: (model.session as unknown as { ep: string }).ep, loaded, log };
};

describe("the widget's choice of backend", () => {
  it('keeps WASM without a GPU adapter, or with a software one, and never loads the WebGPU build there', async () => {
    for (const gpu of [
      { api: false, adapter: false, fallback: false },
      { api: true, adapter: false, fallback: false },
      { api: true, adapter: true, fallback: true },
    ]) {
      const got = await choose(gpu, 5, 1);
      expect(got.backend, JSON.stringify(gpu)).toBe('wasm');
      expect(got.ep).toBe('wasm');
      expect(got.loaded).toEqual(['wasm']);
    }
  });

  it('takes WebGPU on a real adapter only where it runs the model faster, and releases the session it does not keep', async () => {
    const faster = await choose(real, 20, 1);
    expect([faster.backend, faster.ep]).toEqual(['webgpu', 'webgpu']);
    expect(faster.log).toContain('release wasm');
    const slower = await choose(real, 1, 20);
    expect([slower.backend, slower.ep]).toEqual(['wasm', 'wasm']);
    expect(slower.log).toContain('release webgpu');
    const broken = await choose(real, 1, 'fails');
    expect([broken.backend, broken.ep]).toEqual(['wasm', 'wasm']);
  });
});

describe('probeGpu', () => {
  it('tells a real adapter from none and from a software fallback, by flag or by name', async () => {
    const gpu = (adapter: unknown) => ({ requestAdapter: async () => adapter as never });
    expect(await probeGpu(undefined)).toEqual({ api: false, adapter: false, fallback: false });
    expect(await probeGpu(gpu(null))).toEqual({ api: true, adapter: false, fallback: false });
    expect(
      await probeGpu({
        requestAdapter: async () => {
          throw new Error('blocked');
        },
      }),
    ).toEqual({ api: true, adapter: false, fallback: false });
    expect(await probeGpu(gpu({ info: { vendor: 'nvidia', architecture: 'ampere', description: '' } }))).toEqual(real);
    expect((await probeGpu(gpu({ isFallbackAdapter: true, info: {} }))).fallback).toBe(true);
    expect((await probeGpu(gpu({ info: { isFallbackAdapter: true } }))).fallback).toBe(true);
    expect((await probeGpu(gpu({ info: { vendor: 'google', description: 'SwiftShader Device' } }))).fallback).toBe(true);
    expect((await probeGpu(gpu({ info: { vendor: 'mesa', architecture: 'llvmpipe' } }))).fallback).toBe(true);
  });
});
