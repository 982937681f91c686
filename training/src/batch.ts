import { tf } from './backend.js';
import type { Examples } from './datasets/build.js';

/** Copies the chosen examples into one batch tensor [n,side,side,1] and its labels. */
export function gatherBatch(ex: Examples, indices: ArrayLike<number>): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const n = indices.length;
  const pixels = ex.side * ex.side;
  const images = new Float32Array(n * pixels);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    images.set(ex.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = ex.labels[j];
  }
  return { x: tf.tensor4d(images, [n, ex.side, ex.side, 1]), y: tf.tensor1d(labels, 'int32') };
}

/** How much the heatmap loss counts next to the classification loss: about one square's worth of cells. */
export const HEATMAP_LOSS_WEIGHT = 0.5;

/** The share of cell [x0,x0+cell) x [y0,y0+cell) that box (x,y,w,h) covers. */
export function cellCoverage(box: ArrayLike<number>, offset: number, x0: number, y0: number, cell: number): number {
  const [bx, by, bw, bh] = [box[offset], box[offset + 1], box[offset + 2], box[offset + 3]];
  if (bw <= 0 || bh <= 0) return 0;
  const ox = Math.max(0, Math.min(x0 + cell, bx + bw) - Math.max(x0, bx));
  const oy = Math.max(0, Math.min(y0 + cell, by + bh) - Math.max(y0, by));
  return (ox * oy) / (cell * cell);
}

/** A localiser's targets for a batch: per-cell coverage [n,side,side] and per-example loss weights. */
export function gatherHeatmapTargets(
  ex: Examples,
  indices: ArrayLike<number>,
  side: number,
): { coverage: tf.Tensor3D; weights: tf.Tensor1D } {
  const n = indices.length;
  const cell = ex.side / side;
  const coverage = new Float32Array(n * side * side);
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    weights[i] = ex.hidden[j] ? 0 : HEATMAP_LOSS_WEIGHT;
    if (ex.labels[j] !== 1) continue;
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++)
        coverage[(i * side + r) * side + c] = cellCoverage(ex.boxes, j * 4, c * cell, r * cell, cell);
  }
  return { coverage: tf.tensor3d(coverage, [n, side, side]), weights: tf.tensor1d(weights) };
}
