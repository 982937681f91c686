/**
 * The model contract: every network blankspot trains, exports, serves or runs in a browser
 * takes and gives exactly these tensors, so any runtime can swap one model for another.
 */
export const MODEL_INPUT_NAME = 'image';
export const MODEL_OUTPUT_NAME = 'prob';
/** Optional second output of localising models: one score per position of a coarse grid. */
export const MODEL_HEATMAP_NAME = 'heatmap';
/** Side of the square greyscale input, as in the paper. */
export const INPUT_SIZE = 64;
/** Side of the white square the paper protocol pastes. */
export const PAPER_SQUARE_SIZE = 16;
/** Number of classes: 0 = clean, 1 = a white rectangle was added. */
export const NUM_CLASSES = 2;
export const ANOMALY_CLASS = 1;

/**
 * Input tensor shape for a batch of n images: NCHW, one channel, values in [0,1], 0 black, 1 white.
 * The side is the contract's 64 unless a model's manifest entry gives its own `inputSize`.
 */
export function inputShape(n: number, side = INPUT_SIZE): [number, 1, number, number] {
  return [n, 1, side, side];
}

/** The shape of a batch of n square inputs held in `input` (n*side*side values), for a runtime's tensor. */
export function inputShapeOf(input: ArrayLike<number>, n: number): [number, 1, number, number] {
  const side = Math.round(Math.sqrt(input.length / n));
  if (n < 1 || side * side * n !== input.length) throw new RangeError(`${input.length} values are not ${n} square inputs`);
  return inputShape(n, side);
}

// Float32 softmax saturates at 1: a score is clamped here so that a certain one still counts, finitely.
const SCORE_EPS = 1e-7;

/**
 * The logit of an anomaly score, finite for saturated float32 scores (|z| <= 16.12): the views average
 * these, and calibration is fitted on them.
 */
export function scoreLogit(p: number): number {
  const q = Math.min(1 - SCORE_EPS, Math.max(SCORE_EPS, p));
  return Math.log(q / (1 - q));
}

/** Probability of "a white rectangle was added" for each image of a [N,2] `prob` output. */
export function anomalyScores(prob: ArrayLike<number>): number[] {
  if (prob.length % NUM_CLASSES !== 0) {
    throw new RangeError(`prob has ${prob.length} values, not a multiple of ${NUM_CLASSES}`);
  }
  const scores: number[] = [];
  for (let i = 0; i < prob.length; i += NUM_CLASSES) scores.push(prob[i + ANOMALY_CLASS]);
  return scores;
}

/** How a model expects its input to be made; stored in model metadata so other runtimes can follow it. */
export function preprocessingDescription(side = INPUT_SIZE): string {
  return (
    `RGBA composed onto white, Rec.601 luma (0.299R+0.587G+0.114B)/255, area-averaging resize to ${side}x${side} ` +
    `(aspect ratio not kept), float32 NCHW [N,1,${side},${side}] in [0,1], 0 black, 1 white`
  );
}

/** Added to preprocessingDescription() for models whose input is made under `content` framing (framing.ts). */
export const CONTENT_FRAMING_DESCRIPTION =
  "content framing: when the photo's border (on a 128x128 area average) is a plain light background " +
  '(median >= 0.9, 90% of border cells within 0.03 of it), the input is the square around the cells that differ from ' +
  'it by more than 0.06, grown by 1.25 and at least 30% of the longer side, centred on them, the background beyond the ' +
  'photo; otherwise the whole photo. Where that square exists and its cells are two or three objects (each cell grown ' +
  'by 3 cells every way, grown cells that touch being one object, objects of at least 20 cells), each object gets its ' +
  "own square by the same rule, and the photo's score is the highest of the objects' scores";
