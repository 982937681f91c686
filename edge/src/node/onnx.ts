/** ONNX Runtime for Node: one session per model, created once. */
import * as ort from 'onnxruntime-node';
import { INPUT_SIZE, MODEL_INPUT_NAME } from '@blankspot/core';
import { contractOutputs, type InferenceSession } from '../runtime.js';

export async function createNodeSession(modelBytes: Uint8Array): Promise<InferenceSession> {
  // One intra-op thread: the models are tiny, and requests in parallel already use every core.
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    async run(input, n) {
      const feeds = { [MODEL_INPUT_NAME]: new ort.Tensor('float32', input, [n, 1, INPUT_SIZE, INPUT_SIZE]) };
      const out = await session.run(feeds);
      return contractOutputs(out);
    },
    release: () => session.release(),
  };
}
