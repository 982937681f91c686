/** ONNX Runtime for Node: one session per model, created once. */
import * as ort from 'onnxruntime-node';
import { ortSessionPort, type InferenceSession } from '@blankspot/core';

/**
 * `threads`: ONNX Runtime's intra-op threads. One by default: the models are tiny, and requests in
 * parallel already use every core; 0 lets ONNX Runtime choose (large batches: evaluation, parity checks).
 */
export async function createNodeSession(modelBytes: Uint8Array, options: { threads?: number } = {}): Promise<InferenceSession> {
  const session = await ort.InferenceSession.create(modelBytes, {
    intraOpNumThreads: options.threads ?? 1,
    interOpNumThreads: 1,
  });
  return ortSessionPort(ort, session);
}
