/** A gradient worker thread: holds a copy of the network and computes gradient sums for shards. */
import { parentPort, workerData } from 'node:worker_threads';
import { tf, useBackend } from './backend.js';
import { NETWORKS, atSide, initParams, trainableParams } from './networks.js';
import { shardGradients, unshareExamples, type WorkerInit } from './parallel.js';
import { NativeTrainingStep } from './native-step.js';

const init = workerData as WorkerInit;
const examples = unshareExamples(init.examples);
const ready = (async () => {
  await useBackend(init.backend);
  const spec = atSide(NETWORKS[init.network], init.side);
  const params = initParams(spec, 0);
  return { spec, params, native: NativeTrainingStep.create(spec, params) };
})();

parentPort!.on('message', async (m: { weights: Float32Array[]; indices: Int32Array }) => {
  try {
    const { spec, params, native } = await ready;
    trainableParams(spec).forEach((p, i) => {
      const v = params[p.name];
      tf.tidy(() => v.assign(tf.tensor(m.weights[i], p.shape, 'float32')));
    });
    const result = shardGradients(spec, params, examples, m.indices, native);
    parentPort!.postMessage(
      result,
      result.grads.map((g) => g.buffer as ArrayBuffer),
    );
  } catch (e) {
    parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
});
