/**
 * Scores that mean what they say: Platt scaling of a model's anomaly logit, fitted on a validation
 * catalogue, and the reliability table that shows how far a score is from the share of damaged photos
 * among those that get it. Two parameters fitted by Newton's method: a dozen lines no library
 * improves on, and the trainer's packages carry no optimisation library for one.
 */

import { scoreLogit as logitOf } from '@blankspot/core';

/** A calibration of the anomaly logit z: the calibrated score is sigmoid(scale * z + shift). */
export interface Platt {
  scale: number;
  shift: number;
}

export function calibrated({ scale, shift }: Platt, score: number): number {
  return 1 / (1 + Math.exp(-(scale * logitOf(score) + shift)));
}

/**
 * The Platt scaling that minimises the log loss of `labels` (1 = damaged) under the calibrated
 * `scores`, with Platt's smoothed targets so that a separable set does not drive the scale to infinity.
 */
export function fitPlatt(scores: ArrayLike<number>, labels: ArrayLike<number>): Platt {
  const n = scores.length;
  if (n === 0 || n !== labels.length) throw new Error('fitPlatt needs as many labels as scores, at least one');
  const positives = Array.from(labels).filter((y) => y === 1).length;
  const hi = (positives + 1) / (positives + 2);
  const lo = 1 / (n - positives + 2);
  const z = Array.from(scores, logitOf);
  const t = Array.from(labels, (y) => (y === 1 ? hi : lo));
  const loss = (a: number, b: number) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const u = a * z[i] + b;
      // log(1 + e^u) - t u, written to stay finite for large |u|.
      sum += Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u))) - t[i] * u;
    }
    return sum;
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  for (let iter = 0; iter < 100; iter++) {
    // Gradient and Hessian of the log loss in (a, b).
    let ga = 0;
    let gb = 0;
    let haa = 1e-12;
    let hab = 0;
    let hbb = 1e-12;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(a * z[i] + b)));
      const d = p - t[i];
      const w = p * (1 - p);
      ga += d * z[i];
      gb += d;
      haa += w * z[i] * z[i];
      hab += w * z[i];
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    // Newton's step, halved until the loss falls (as Platt's own fit does).
    let step = 1;
    while (step > 1e-8 && !(loss(a - step * da, b - step * db) < current)) step /= 2;
    if (step <= 1e-8) break;
    a -= step * da;
    b -= step * db;
    const next = loss(a, b);
    const done = current - next < 1e-12 * Math.max(1, current);
    current = next;
    if (done) break;
  }
  return { scale: a, shift: b };
}

/** One bin of a reliability table: the photos whose score fell in [from, to). */
export interface ReliabilityBin {
  from: number;
  to: number;
  count: number;
  /** Their mean score. */
  meanScore: number;
  /** The share of them that were damaged. */
  damaged: number;
}

/**
 * Scores in `bins` equal bins with the share of damaged photos in each, and the expected calibration
 * error: the count-weighted mean gap between a bin's mean score and its share of damaged photos.
 */
export function reliability(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  bins = 10,
): { bins: ReliabilityBin[]; ece: number } {
  const sums = Array.from({ length: bins }, () => ({ count: 0, score: 0, damaged: 0 }));
  for (let i = 0; i < scores.length; i++) {
    const b = sums[Math.min(bins - 1, Math.max(0, Math.floor(scores[i] * bins)))];
    b.count++;
    b.score += scores[i];
    b.damaged += labels[i] === 1 ? 1 : 0;
  }
  let ece = 0;
  const out = sums.map((s, i) => {
    const meanScore = s.count ? s.score / s.count : NaN;
    const damaged = s.count ? s.damaged / s.count : NaN;
    if (s.count) ece += (s.count / scores.length) * Math.abs(meanScore - damaged);
    return { from: i / bins, to: (i + 1) / bins, count: s.count, meanScore, damaged };
  });
  return { bins: out, ece };
}
