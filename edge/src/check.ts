/** One photo through the pipeline: inspect the header, decode, preprocess, run the model, decide. */
import {
  anomalyScores,
  blockMeansCover,
  inspectImage,
  jpegToInput,
  preprocess,
  readExifOrientation,
  resultBox,
  thresholdFor,
  type Sensitivity,
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
  sensitivity?: Sensitivity,
): Promise<CheckOutcome> {
  const t0 = now();
  const info = inspectImage(bytes, config);
  // Large JPEGs are read from their luma block means (the core's DCT-domain reader, the same in every
  // runtime); anything it does not cover is decoded in full.
  const fromBlocks =
    info.type === 'image/jpeg' && blockMeansCover(info)
      ? await (decoder.jpegToInput ?? jpegToInput)(bytes, readExifOrientation(bytes, info.type))
      : null;
  let image: { width: number; height: number };
  let input: Float32Array;
  let t1: number;
  if (fromBlocks) {
    ({ input, ...image } = fromBlocks);
    t1 = now();
  } else {
    const rgba = await decoder.decode(bytes, info);
    t1 = now();
    input = preprocess(rgba);
    image = rgba;
  }
  const t2 = now();
  const outputs = await model.session.run(input, 1);
  const t3 = now();
  const [score] = anomalyScores(outputs.prob);
  const verdict = verdictFromScore(score, thresholdFor(model.entry, sensitivity));
  return {
    ...verdict,
    model: { name: model.entry.name, version: model.entry.version },
    box: resultBox(outputs.heatmap, input, verdict.flagged, image.width, image.height),
    image: { type: info.type, width: image.width, height: image.height },
    timings: { decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2), totalMs: ms(t3 - t0) },
  };
}
