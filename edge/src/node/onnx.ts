/** ONNX Runtime for Node: one session per model, created once. */
import * as ort from 'onnxruntime-node';
import { MODEL_INPUT_NAME, contractOutputs, inputShape, type InferenceSession } from '@blankspot/core';

export async function createNodeSession(modelBytes: Uint8Array): Promise<InferenceSession> {
  // One intra-op thread: the models are tiny, and requests in parallel already use every core.
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    async run(input, n) {
      const feeds = { [MODEL_INPUT_NAME]: new ort.Tensor('float32', input, inputShape(n)) };
      const out = await session.run(feeds);
      return contractOutputs(out);
    },
    release: () => session.release(),
  };
}
