/** What each DCT coefficient adds to the means of a block's 4x4 or 2x2 cells, and which coefficients count. */
import type { LumaCellSide } from './types.js';

/** Zigzag position to natural (row-major) position in an 8x8 block. */
const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42,
  49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);
/**
 * Per frequency u (rows) and cell i of an axis cut into cells of `cell` pixels (columns, 8 / cell of
 * them), u's weight in the cell's mean: C(u)/2 times the mean of cos((2x+1)u pi/16) over the cell's
 * pixels; C(0) = 1/sqrt(2), else 1. Over quarters the even frequencies but 0 weigh nothing, over pairs
 * frequency 4: their coefficients are not needed.
 */
function cellWeights(cell: LumaCellSide): Float64Array {
  const m = 8 / cell;
  const w = new Float64Array(8 * m);
  for (let u = 0; u < 8; u++)
    for (let i = 0; i < m; i++) {
      let sum = 0;
      for (let x = i * cell; x < (i + 1) * cell; x++) sum += Math.cos(((2 * x + 1) * u * Math.PI) / 16);
      const v = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * (sum / cell);
      w[u * m + i] = Math.abs(v) < 1e-12 ? 0 : v; // a cosine's exact zero, less rounding
    }
  return w;
}

const CELL_WEIGHTS = { 4: cellWeights(4), 2: cellWeights(2) } as const;

/** Per zigzag position (padded past 63 with zeros for lookups that step past the block): needed for cells of that side. */
export const CELL_NEEDED = {
  4: neededCoefficients(4),
  2: neededCoefficients(2),
} as const;

function neededCoefficients(cell: 4 | 2): Uint8Array {
  const w = CELL_WEIGHTS[cell];
  const m = 8 / cell;
  const counts = (u: number) => w.subarray(u * m, (u + 1) * m).some((x) => x !== 0);
  const needed = new Uint8Array(256);
  for (let k = 1; k < 64; k++) needed[k] = counts(ZIGZAG[k] >> 3) && counts(ZIGZAG[k] & 7) ? 1 : 0;
  return needed;
}

/**
 * Per zigzag position k, what one unit of its coefficient adds to the means (less 128) of a block's
 * (8 / cell)^2 cells, row-major, under quantisation steps `steps`: the cells are then sums of products
 * over the block's non-zero coefficients, with no inverse DCT.
 */
export function cellContributions(steps: Float64Array, cell: 4 | 2): Float64Array {
  const w = CELL_WEIGHTS[cell];
  const m = 8 / cell;
  const out = new Float64Array(m * m * 64);
  for (let k = 0; k < 64; k++) {
    const v = ZIGZAG[k] >> 3;
    const u = ZIGZAG[k] & 7;
    for (let j = 0; j < m; j++) for (let i = 0; i < m; i++) out[m * m * k + j * m + i] = steps[k] * w[u * m + i] * w[v * m + j];
  }
  return out;
}
