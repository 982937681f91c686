/**
 * How a model is judged, in the terms a seller acts on: false alarms on clean photos and recall on
 * damage that can be seen, with 95% confidence intervals, at the model's own threshold. `report`,
 * `evaluate` and the threshold choice at export all read them from here.
 */
import type { Examples } from './datasets/build.js';

/** A share with its 95% Wilson score interval (sound at 0 and near 0, where false-alarm rates live). */
export interface Rate {
  hits: number;
  total: number;
  rate: number;
  low: number;
  high: number;
}

export function wilson(hits: number, total: number, z = 1.96): Rate {
  if (total === 0) return { hits, total, rate: 0, low: 0, high: 1 };
  const p = hits / total;
  const z2 = z * z;
  const centre = (p + z2 / (2 * total)) / (1 + z2 / total);
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / (1 + z2 / total);
  return { hits, total, rate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface ModelQuality {
  accuracy: number;
  /** 1 - share of rectangles that landed on pure white: no model can do better. */
  bayesCeiling: number;
  /** Found rectangles among those that can be seen. */
  recallVisible: number;
  /** Clean photos wrongly flagged. */
  falsePositiveRate: number;
  /** The same two, with their counts and 95% intervals. */
  recall: Rate;
  falseAlarms: Rate;
  threshold: number;
}

/** Quality on a test set, or on the examples `only` keeps (one set of a mixture), at `threshold`. */
export function quality(ex: Examples, scores: Float32Array, only?: (i: number) => boolean, threshold = 0.5): ModelQuality {
  let correct = 0;
  let hidden = 0;
  let visible = 0;
  let found = 0;
  let clean = 0;
  let falseAlarms = 0;
  let count = 0;
  for (let i = 0; i < ex.count; i++) {
    if (only && !only(i)) continue;
    count++;
    const flagged = scores[i] >= threshold;
    if ((flagged ? 1 : 0) === ex.labels[i]) correct++;
    if (ex.labels[i] === 1) {
      if (ex.hidden[i]) hidden++;
      else {
        visible++;
        if (flagged) found++;
      }
    } else {
      clean++;
      if (flagged) falseAlarms++;
    }
  }
  return {
    accuracy: count ? correct / count : 0,
    bayesCeiling: count ? 1 - hidden / count : 1,
    recallVisible: visible ? found / visible : 1,
    falsePositiveRate: clean ? falseAlarms / clean : 0,
    recall: wilson(found, visible),
    falseAlarms: wilson(falseAlarms, clean),
    threshold,
  };
}

/**
 * The lowest threshold that flags at most `target` of the clean scores (midway between the last
 * score allowed to flag and the first that must not), so recall is as high as that false-alarm rate allows.
 */
export function thresholdForFalseAlarms(cleanScores: ArrayLike<number>, target: number): number {
  const sorted = Float64Array.from(cleanScores).sort().reverse();
  if (sorted.length === 0) throw new RangeError('no clean scores to choose a threshold on');
  const allowed = Math.floor(target * sorted.length);
  const firstRefused = sorted[Math.min(allowed, sorted.length - 1)];
  const lastFlagged = allowed > 0 ? sorted[allowed - 1] : 1;
  const t = allowed >= sorted.length ? sorted[sorted.length - 1] : (firstRefused + lastFlagged) / 2;
  // Strictly above the first refused score, and inside (0,1) as the manifest requires.
  const above = t > firstRefused || allowed >= sorted.length ? t : firstRefused + 1e-7;
  return Math.min(1 - 1e-6, Math.max(1e-6, above));
}
