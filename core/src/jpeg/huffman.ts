/** Huffman decoding tables for the scan reader: lookups for short codes, and two coefficients per lookup. */
import { FAST_BITS, SKIP_BITS } from './scan.js';
import { notCovered } from './types.js';

/** Canonical Huffman code tables: a 9-bit lookup for short codes, limits per length for the rest. */
export interface HuffmanTable {
  fast: Int32Array;
  /**
   * For AC tables: per 12-bit lookahead, the bits one or two whole coefficients take (code and
   * magnitude) and how far they move along the block (64 for end of block); see `pairUp`. 0 when longer.
   */
  skip: Int32Array;
  /** Per `skip` entry, the magnitude sizes of its coefficients: first | second << 4 (0: none, or EOB/ZRL). */
  sizes: Uint8Array;
  maxCode: Int32Array;
  valPtr: Int32Array;
  values: Uint8Array;
}

export function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const fast = new Int32Array(1 << FAST_BITS);
  const skip = new Int32Array(1 << SKIP_BITS);
  const size1 = new Uint8Array(1 << SKIP_BITS);
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    valPtr[len] = k - code;
    const n = counts[len - 1];
    for (let i = 0; i < n; i++, k++, code++) {
      if (len <= FAST_BITS) {
        const shift = FAST_BITS - len;
        for (let j = 0; j < 1 << shift; j++) fast[(code << shift) | j] = (len << 8) | values[k] | 0x10000;
      }
      const rs = values[k];
      const size = rs & 15;
      const step = size ? (rs >> 4) + 1 : rs === 0xf0 ? 16 : 64;
      if (len + size <= SKIP_BITS) {
        const shift = SKIP_BITS - len;
        for (let j = 0; j < 1 << shift; j++) {
          skip[(code << shift) | j] = ((len + size) << 8) | step;
          size1[(code << shift) | j] = size;
        }
      }
    }
    if (n) maxCode[len] = code - 1;
    if (code > 1 << len) notCovered('bad Huffman table');
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  const { pair, sizes } = pairUp(skip, size1);
  return { fast, skip: pair, sizes, maxCode, valPtr, values };
}

/**
 * Two coefficients per lookup where both fit in the lookahead: entries become
 * totalBits << 20 | firstBits << 16 | totalStep << 8 | firstStep. The second is taken only when the
 * first does not end the block (the loop checks), so an end of block is never read past.
 */
function pairUp(single: Int32Array, size1: Uint8Array): { pair: Int32Array; sizes: Uint8Array } {
  const mask = (1 << SKIP_BITS) - 1;
  const pair = new Int32Array(single.length);
  const sizes = new Uint8Array(single.length);
  for (let i = 0; i < single.length; i++) {
    const e1 = single[i];
    if (!e1) continue;
    const bits1 = e1 >> 8;
    const step1 = e1 & 0xff;
    let bits = bits1;
    let step = step1;
    if (step1 < 64 && bits1 < SKIP_BITS) {
      const e2 = single[(i << bits1) & mask];
      // The second must lie wholly in the bits looked at, not in the zeros shifted in.
      if (e2 && e2 >> 8 <= SKIP_BITS - bits1) {
        bits += e2 >> 8;
        step += e2 & 0xff;
        sizes[i] = size1[(i << bits1) & mask] << 4;
      }
    }
    pair[i] = (bits << 20) | (bits1 << 16) | (step << 8) | step1;
    sizes[i] |= size1[i];
  }
  return { pair, sizes };
}
