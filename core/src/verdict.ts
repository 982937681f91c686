import type { Box } from './box.js';

/** The default decision threshold on the anomaly probability. */
export const DEFAULT_THRESHOLD = 0.5;

export interface Verdict {
  /** True when the model thinks a white rectangle was added. */
  flagged: boolean;
  /** Probability of the anomaly class, in [0,1]. */
  score: number;
  threshold: number;
}

export function verdictFromScore(score: number, threshold = DEFAULT_THRESHOLD): Verdict {
  if (!Number.isFinite(score)) throw new RangeError(`score ${score} is not a number`);
  return { flagged: score >= threshold, score, threshold };
}

/** The answer to one check, the same from the edge API (POST /v1/check) and the browser widget. */
export interface CheckResult extends Verdict {
  model: { name: string; version: string };
  /** Where the rectangle is, in the photo's own pixels; null when the model does not localise. */
  box: Box | null;
  image: { type: 'image/jpeg' | 'image/png' | 'image/webp'; width: number; height: number };
  /** Looks the model took: 1, or 2 when the first was suspect and the closer look (a manifest's `closerLook`) ran. */
  looks: 1 | 2;
  timings: { decodeMs: number; preprocessMs: number; inferenceMs: number; totalMs: number };
  requestId: string;
}
