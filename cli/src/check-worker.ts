/** One worker thread of `blankspot check`: the API's Node pipeline (sharp, core preprocessing, ONNX Runtime). */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { LIMITS, ModelRegistry, checkImage, isBlankspotError, type Sensitivity } from '@blankspot/core';
import { createNodeRuntime } from '@blankspot/runtime-node';
import { EMPTY_FILE, type CheckedFile } from './catalogue.js';

const { modelsDir, model, sensitivity } = workerData as { modelsDir?: string; model?: string; sensitivity?: Sensitivity };
const runtime = createNodeRuntime({ modelsDir });
const ready = ModelRegistry.load(runtime).then((registry) => registry.get(model));

parentPort!.on('message', async (path: string) => {
  let chosen;
  try {
    chosen = await ready;
  } catch (e) {
    parentPort!.postMessage({ fatal: e instanceof Error ? e.message : String(e) });
    return;
  }
  let result: CheckedFile;
  try {
    const bytes = new Uint8Array(await readFile(path));
    const r = bytes.length === 0 ? null : await checkImage(bytes, chosen, runtime.decoder, LIMITS, { sensitivity });
    result =
      r == null
        ? EMPTY_FILE(path)
        : { path, flagged: r.flagged, score: r.score, threshold: r.threshold, model: r.model, box: r.box, image: r.image };
  } catch (e) {
    result = isBlankspotError(e)
      ? { path, error: { code: e.code, message: e.message } }
      : { path, error: { code: 'UNREADABLE_FILE', message: e instanceof Error ? e.message : String(e) } };
  }
  parentPort!.postMessage(result);
});
