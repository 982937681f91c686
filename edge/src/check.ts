/** One photo through the pipeline: inspect the header, decode, preprocess, run the model, decide. */
import {
  anomalyScores,
  inspectImage,
  preprocess,
  resultBox,
  verdictFromScore,
  type CheckResult,
  type ModelEntry,
} from '@blankspot/core';
import type { EdgeConfig } from './config.js';
import type { ImageDecoder, InferenceSession } from './runtime.js';

/** A check's result before the request id is added. */
export type CheckOutcome = Omit<CheckResult, 'requestId'>;

const now = () => performance.now();
const ms = (t: number) => Math.round(t * 100) / 100;

export async function checkImage(
  bytes: Uint8Array,
  model: { entry: ModelEntry; session: InferenceSession },
  decoder: ImageDecoder,
  config: Pick<EdgeConfig, 'maxPixels' | 'maxSide'>,
): Promise<CheckOutcome> {
  const t0 = now();
  const info = inspectImage(bytes, config);
  const rgba = await decoder.decode(bytes, info);
  const t1 = now();
  const input = preprocess(rgba);
  const t2 = now();
  const outputs = await model.session.run(input, 1);
  const t3 = now();
  const [score] = anomalyScores(outputs.prob);
  const verdict = verdictFromScore(score, model.entry.threshold);
  return {
    ...verdict,
    model: { name: model.entry.name, version: model.entry.version },
    box: resultBox(outputs.heatmap, verdict.flagged, rgba.width, rgba.height),
    image: { type: info.type, width: rgba.width, height: rgba.height },
    timings: { decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2), totalMs: ms(t3 - t0) },
  };
}
