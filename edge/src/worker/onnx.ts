/**
 * ONNX Runtime Web (WASM) inside Cloudflare Workers. Workers forbid compiling WebAssembly from bytes
 * at run time, and ORT 1.30 accepts its binary only as bytes (wasmBinary) or a URL (wasmPaths). So
 * ORT gets four placeholder bytes, and WebAssembly.instantiate, when handed exactly those, instantiates
 * the module wrangler precompiled at upload instead. One thread, no proxy worker: Workers have neither.
 */
import * as ort from 'onnxruntime-web/wasm';
import ORT_WASM from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { ortSessionPort, type InferenceSession } from '@blankspot/core';
import { WARMUP_MODEL_BASE64 } from './warmup-model.js';

const PLACEHOLDER = [0x00, 0x61, 0x73, 0x6d]; // "\0asm": the wasm magic alone

function isPlaceholder(source: unknown): boolean {
  if (source == null || source instanceof WebAssembly.Module) return false;
  const bytes =
    source instanceof ArrayBuffer
      ? new Uint8Array(source)
      : ArrayBuffer.isView(source)
        ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
        : null;
  return bytes != null && bytes.length === PLACEHOLDER.length && PLACEHOLDER.every((b, i) => bytes[i] === b);
}

let installed = false;

function installOrt(): void {
  if (installed) return;
  installed = true;
  const instantiate = WebAssembly.instantiate.bind(WebAssembly) as (
    m: WebAssembly.Module,
    i?: WebAssembly.Imports,
  ) => Promise<WebAssembly.Instance>;
  const original = WebAssembly.instantiate;
  (WebAssembly as { instantiate: unknown }).instantiate = (source: unknown, imports?: WebAssembly.Imports) =>
    isPlaceholder(source)
      ? instantiate(ORT_WASM, imports).then((instance) => ({ instance, module: ORT_WASM }))
      : (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
  ort.env.wasm.wasmBinary = new Uint8Array(PLACEHOLDER);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
}

/**
 * ONNX Runtime's start (instantiating its WebAssembly, compiling each kernel's code on first use)
 * takes most of a cold start. Begun at isolate start with a tiny graph that uses every operator of the
 * shipped models, it is done before the first request, or while it arrives: Workers start isolates
 * during the TLS handshake.
 */
export const ortWarm: Promise<void> = (async () => {
  installOrt();
  const bytes = Uint8Array.from(atob(WARMUP_MODEL_BASE64), (c) => c.charCodeAt(0));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  await session.run({ x: new ort.Tensor('float32', new Float32Array(144), [1, 1, 12, 12]) });
  await session.release();
})().catch(() => undefined); // a failed warm-up only leaves the work to the first model load

export async function createWorkerSession(modelBytes: Uint8Array): Promise<InferenceSession> {
  await ortWarm;
  installOrt();
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  return ortSessionPort(ort, session);
}
