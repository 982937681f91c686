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
