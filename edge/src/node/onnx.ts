/** ONNX Runtime for Node: one session per model, created once. */
import * as ort from 'onnxruntime-node';
import { INPUT_SIZE, MODEL_HEATMAP_NAME, MODEL_INPUT_NAME, MODEL_OUTPUT_NAME } from '@blankspot/core';
import type { InferenceSession } from '../runtime.js';

export async function createNodeSession(modelBytes: Uint8Array): Promise<InferenceSession> {
  // One intra-op thread: the models are tiny, and requests in parallel already use every core.
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return {
    async run(input, n) {
      const feeds = { [MODEL_INPUT_NAME]: new ort.Tensor('float32', input, [n, 1, INPUT_SIZE, INPUT_SIZE]) };
      const out = await session.run(feeds);
      const heat = out[MODEL_HEATMAP_NAME];
      return {
        prob: out[MODEL_OUTPUT_NAME].data as Float32Array,
        heatmap: heat
          ? { data: heat.data as Float32Array, height: heat.dims[heat.dims.length - 2], width: heat.dims[heat.dims.length - 1] }
          : undefined,
      };
    },
    release: () => session.release(),
  };
}
