/**
 * One photo through the pipeline, the same in every runtime (the API on Node and Workers, the widget,
 * `blankspot check`): inspect the header, decode, make the model input under the model's framing, run
 * the model, decide, read the box.
 */
import { framedInputs, type Frame, type FramedLook } from '../framing.js';
import { heatmapOf, resultBox, type Heatmap } from '../heatmap.js';
import { inspectImage } from '../image-format.js';
import { blockMeansCover, jpegToInput, type BlockRead } from '../jpeg/index.js';
import {
  framingOf,
  inputSizeOf,
  thresholdFor,
  withCloserLook,
  type ModelEntry,
  type Sensitivity,
  type Views,
} from '../manifest.js';
import { readExifOrientation } from '../orientation.js';
import { anomalyScores } from '../contract.js';
import { verdictFromScore, type CheckResult } from '../verdict.js';
import type { RgbaImage } from '../preprocess.js';
import type { ImageDecoder, InferenceSession } from './ports.js';
import { batchOf, closerViewsOf, runModel, viewsOf } from './views.js';

/** A check's result before the request id is added. */
export type CheckOutcome = Omit<CheckResult, 'requestId'>;

/** What the input was made from, for callers that report it (the widget, tests). */
export interface ModelInput {
  input: Float32Array;
  width: number;
  height: number;
  /** The part of the photo the input shows under `content` framing; null: the whole photo. */
  frame: Frame | null;
  /**
   * Under `content` framing, when the content is two or three separate objects, each one's own input
   * and frame (`findFrames`): the check looks through these instead of `input`. Empty otherwise.
   */
  objects: FramedLook[];
  /** 'blocks': a JPEG's luma block means; 'runtime': the runtime's own (the browser's shader); 'pixels': decoded pixels. */
  from: 'blocks' | 'runtime' | 'pixels';
}

/** The limits the header is checked against before anything is decoded. */
export type ImageLimits = { maxPixels: number; maxSide: number };

// A global in Node 20, browsers and Workers alike; only its shape is declared here (the core has no runtime types).
declare const performance: { now(): number };
const now = () => performance.now();
const ms = (t: number) => Math.round(t * 100) / 100;

/** The model input of a photo under a model's framing; `decodeMs` up to the pixels (or the block means), then preprocessing. */
export async function modelInput(
  bytes: Uint8Array,
  entry: Pick<ModelEntry, 'framing' | 'inputSize'>,
  decoder: ImageDecoder,
  limits: ImageLimits,
  earlier?: BlockRead,
): Promise<
  ModelInput & {
    type: CheckResult['image']['type'];
    decodeMs: number;
    preprocessMs: number;
    /** The decoded photo, when the input was made from its pixels: a closer look frames it again. */
    pixels?: RgbaImage;
    /** What reading a JPEG's whole blocks learnt (its frames and scan index, or its block means), when the input was read from them (`jpegToInput`). */
    blockRead?: BlockRead;
  }
> {
  const t0 = now();
  const info = inspectImage(bytes, limits);
  const framing = framingOf(entry);
  const size = inputSizeOf(entry);
  // Large JPEGs are read from their luma block means (the core's DCT-domain reader, the same in every
  // runtime); anything it does not cover is decoded in full.
  if (info.type === 'image/jpeg' && blockMeansCover(info, size)) {
    const orientation = readExifOrientation(bytes, info.type);
    const blocks = decoder.jpegToInput
      ? await decoder.jpegToInput(bytes, orientation, framing, size, earlier)
      : jpegToInput(bytes, orientation, framing, size, earlier);
    if (blocks) return { ...blocks, from: 'blocks', type: info.type, decodeMs: ms(now() - t0), preprocessMs: 0 };
  }
  if (framing === 'full' && decoder.decodeToInput) {
    const direct = await decoder.decodeToInput(bytes, info, size);
    if (direct)
      return { ...direct, frame: null, objects: [], from: 'runtime', type: info.type, decodeMs: ms(now() - t0), preprocessMs: 0 };
  }
  const rgba = await decoder.decode(bytes, info);
  const t1 = now();
  const { input, frame, objects } = framedInputs(rgba, framing, size);
  return {
    input,
    frame,
    objects,
    width: rgba.width,
    height: rgba.height,
    from: 'pixels',
    type: info.type,
    decodeMs: ms(t1 - t0),
    preprocessMs: ms(now() - t1),
    pixels: rgba,
  };
}

/**
 * The closer look's input: from the first look's pixels and frames when it decoded them (the larger
 * side would not be read from a JPEG's blocks where the smaller was not: blockMeansMinSide and
 * frameCellSide grow with the side; the frames found on the same pixels do not depend on the side),
 * else made afresh (a JPEG's blocks may cover the first look and not this one: then it is decoded),
 * from the frames the first look found on its whole blocks where it read them (the same frames again).
 */
async function closerInput(
  bytes: Uint8Array,
  first: Awaited<ReturnType<typeof modelInput>>,
  entry: Pick<ModelEntry, 'framing'>,
  inputSize: number,
  decoder: ImageDecoder,
  limits: ImageLimits,
): Promise<ModelInput & { decodeMs: number; preprocessMs: number }> {
  if (first.pixels == null) return modelInput(bytes, { framing: entry.framing, inputSize }, decoder, limits, first.blockRead);
  const t0 = now();
  const found = { frame: first.frame, objects: first.objects.map((o) => o.frame) };
  const { input, frame, objects } = framedInputs(first.pixels, framingOf(entry), inputSize, true, found);
  const { width, height } = first;
  return { input, frame, objects, width, height, from: 'pixels', decodeMs: 0, preprocessMs: ms(now() - t0) };
}

export interface CheckOptions {
  /** How readily to flag (the API's `?sensitivity=`); the model's own threshold when absent. */
  sensitivity?: Sensitivity;
  /** Called with the model input and where it came from (the widget reports it; tests compare it). */
  onInput?: (made: ModelInput) => void;
}

export async function checkImage(
  bytes: Uint8Array,
  model: { entry: ModelEntry; session: InferenceSession },
  decoder: ImageDecoder,
  limits: ImageLimits,
  options: CheckOptions = {},
): Promise<CheckOutcome> {
  const t0 = now();
  const made = await modelInput(bytes, model.entry, decoder, limits);
  const { input, width, height, frame, objects, from } = made;
  options.onInput?.({ input, width, height, frame, objects, from });
  const threshold = thresholdFor(model.entry, options.sensitivity);
  const t2 = now();
  // The closer look's decoding and preprocessing, counted as such rather than as inference.
  let closerDecodeMs = 0;
  let closerPreprocessMs = 0;
  // The closer look (ModelEntry.closerLook), for a photo the first look found suspect but did not flag: a
  // clean photo costs one look, and so does one the first look flags; the box is read from the look
  // that answers.
  const first = { ...(await look(model, made, threshold, viewsOf(model.entry))), size: inputSizeOf(model.entry) };
  const [{ look: seen, looks }] = await withCloserLook(model.entry, threshold, [first], async () => {
    const side = model.entry.closerLook!.inputSize;
    const closer = await closerInput(bytes, made, model.entry, side, decoder, limits);
    closerDecodeMs = closer.decodeMs;
    closerPreprocessMs = closer.preprocessMs;
    return [{ ...(await look(model, closer, threshold, closerViewsOf(model.entry))), size: side }];
  });
  const verdict = verdictFromScore(seen.score, threshold);
  const t3 = now();
  return {
    ...verdict,
    model: { name: model.entry.name, version: model.entry.version },
    box: resultBox(
      seen.heatmap,
      seen.boxLook.input,
      verdict.flagged,
      width,
      height,
      seen.boxLook.frame,
      framingOf(model.entry),
      seen.size,
    ),
    image: { type: made.type, width, height },
    looks,
    timings: {
      decodeMs: ms(made.decodeMs + closerDecodeMs),
      preprocessMs: ms(made.preprocessMs + closerPreprocessMs),
      inferenceMs: ms(t3 - t2 - closerDecodeMs - closerPreprocessMs),
      totalMs: ms(t3 - t0),
    },
  };
}

/**
 * One look at a photo's model input: through the content's frame or, for a shot of a few objects,
 * through each object's (one batch); the photo's score is the highest, the network misses much more
 * through the whole frame there (`findFrames`). When an object's look flags, the whole frame is looked
 * at too, for the box: read there when that look sees the damage as well, it shows all the objects and
 * the white between them, so more of the rectangle's edges (an object's frame cuts off a rectangle
 * reaching past it; on the test catalogue 162 of 205 boxes fit through the whole frame against 151
 * through the object's).
 */
async function look(
  model: { entry: ModelEntry; session: InferenceSession },
  made: ModelInput,
  threshold: number,
  views: Views,
): Promise<{ score: number; boxLook: { input: Float32Array; frame: Frame | null }; heatmap: Heatmap | undefined }> {
  const { input, frame, objects } = made;
  const looks = objects.length ? objects : [{ input, frame }];
  const outputs = await runModel(model.session, batchOf(looks.map((l) => l.input)), looks.length, views);
  const scores = Array.from(anomalyScores(outputs.prob));
  const best = scores.indexOf(Math.max(...scores));
  let boxFrom = { boxLook: looks[best], heatmap: outputs.heatmap && heatmapOf(outputs.heatmap, best) };
  if (objects.length && scores[best] >= threshold && outputs.heatmap) {
    const whole = await runModel(model.session, input, 1, views);
    if (anomalyScores(whole.prob)[0] >= threshold) boxFrom = { boxLook: { input, frame }, heatmap: whole.heatmap };
  }
  return { score: scores[best], ...boxFrom };
}
