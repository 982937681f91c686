/** The entropy-coded scan, decoded only as far as the luma means need: DC values, and the AC coefficients finer cells read. */
import { CELL_NEEDED, cellContributions } from './cells.js';
import type { HuffmanTable } from './huffman.js';

// Literals, not imports: the decoding loop reads them per coefficient, and V8 folds a module's own
// constants but loads imported ones each time (a few percent of a read).
/** Bits of a Huffman table's fast lookup. */
export const FAST_BITS = 9;
/** Lookahead of the AC skip table: most coefficients of a photo (code and magnitude) fit in 12 bits. */
export const SKIP_BITS = 12;

/** A table with no codes, for the scans that read none (progressive DC refinement, AC of skipped components). */
const EMPTY_TABLE: HuffmanTable = {
  fast: new Int32Array(1 << FAST_BITS),
  skip: new Int32Array(1 << SKIP_BITS),
  sizes: new Uint8Array(1 << SKIP_BITS),
  maxCode: new Int32Array(18).fill(-1),
  valPtr: new Int32Array(17),
  values: new Uint8Array(0),
};

import { grown, scratch } from './scratch.js';
import { notCovered, type Component, type JpegScanIndex, type LumaCellSide } from './types.js';

/**
 * A scan's entropy-coded data without byte stuffing (0xFF00 back to 0xFF), cut at its restart markers:
 * the decoding loop then reads plain bytes. Zero bytes pad the end so a damaged scan that reads too
 * far stays in bounds; reading them is caught afterwards.
 */
function unstuff(data: Uint8Array, start: number): { buf: Uint8Array; length: number; restarts: number[]; end: number } {
  const PAD = 64;
  const buf = (scratch.bytes = grown(scratch.bytes, data.length - start + PAD, (n) => new Uint8Array(n)));
  const restarts: number[] = [];
  let n = 0;
  for (let i = start; ;) {
    const j = data.indexOf(0xff, i);
    if (j < 0 || j + 1 >= data.length) return notCovered('no end of image');
    buf.set(data.subarray(i, j), n);
    n += j - i;
    const m = data[j + 1];
    if (m === 0x00) {
      buf[n++] = 0xff;
      i = j + 2;
    } else if (m >= 0xd0 && m <= 0xd7) {
      restarts.push(n);
      i = j + 2;
    } else if (m === 0xff)
      i = j + 1; // a fill byte before a marker
    else {
      buf.fill(0, n, n + PAD);
      return { buf, length: n, restarts, end: j };
    }
  }
}

/**
 * One scan holding luma DC: its DC values (or their refinement bits) into `dc`; returns the position
 * of the marker after it. The hottest code of the reader, so the bit stream lives in local variables
 * and its refill is written out where it is needed rather than called.
 */
export function decodeScan(
  data: Uint8Array,
  start: number,
  f: { progressive: boolean; components: Component[]; mcusX: number; mcusY: number },
  scan: Component[],
  luma: number,
  dc: Int32Array,
  { se, ah, al }: { se: number; ah: number; al: number },
  restartInterval: number,
  dcTables: HuffmanTable[],
  acTables: HuffmanTable[],
  {
    parts,
    cell,
    steps,
    record,
    from,
  }: {
    parts: Float32Array | null;
    cell: LumaCellSide;
    steps: Float64Array | null;
    /** Note where each unit starts, and the units with AC coefficients (`JpegScanIndex`). */
    record: boolean;
    /** Decode only the units `from` holds AC coefficients in (a sequential scan's finer cells). */
    from: JpegScanIndex | null;
  },
): { end: number; index?: Omit<JpegScanIndex, 'dc'> } {
  const { buf, length, restarts, end } = unstuff(data, start);
  // Finer cells: each luma block's non-zero needed coefficients are noted as they are decoded, then
  // summed into its cells (a few per block at catalogue qualities, so no block of 64 to clear).
  const fine = parts != null && steps != null && !f.progressive && cell !== 8 ? cell : null;
  const contribution = fine != null ? cellContributions(steps!, fine) : null;
  const neededHere = fine != null ? CELL_NEEDED[fine] : null;
  const perBlock = fine != null ? (8 / fine) ** 2 : 0;
  const noteAt = new Int32Array(64);
  const noteValue = new Float64Array(64);
  const sums = new Float64Array(16);
  let notes = 0;
  const y = f.components[0];
  const refine = f.progressive && ah !== 0;
  // Sequential scans carry the AC coefficients too; they are decoded only to be stepped over.
  const withAc = !f.progressive && se > 0;
  const single = scan.length === 1;

  // The blocks of one unit (an MCU, or one block in a single-component scan), in coding order.
  const unitComponent: number[] = [];
  const unitLumaOffset: number[] = [];
  for (let ci = 0; ci < scan.length; ci++) {
    const c = scan[ci];
    const [hs, vs] = single ? [1, 1] : [c.h, c.v];
    for (let v = 0; v < vs; v++)
      for (let h = 0; h < hs; h++) {
        unitComponent.push(ci);
        unitLumaOffset.push(ci === luma ? v * y.blocksPerLine + h : -1);
      }
  }
  const dcT = scan.map((c) => dcTables[c.dcTable] ?? (refine ? EMPTY_TABLE : notCovered('missing DC table')));
  const acT = scan.map((c) => (withAc ? (acTables[c.acTable] ?? notCovered('missing AC table')) : EMPTY_TABLE));
  const pred = new Int32Array(scan.length);
  const unitsPerLine = single ? scan[0].usedBlocksPerLine : f.mcusX;
  const units = single ? unitsPerLine * scan[0].usedBlocksPerColumn : f.mcusX * f.mcusY;
  const [unitW, unitH] = single ? [1, 1] : [y.h, y.v];
  const starts = record ? new Int32Array(units) : null;
  const preds = record ? new Int32Array(units) : null;
  let [acX0, acX1, acY0, acY1] = [unitsPerLine, -1, units, -1];
  // An earlier read's index of this very scan: every block starts as flat (its cells its mean), then
  // only the units holding AC coefficients are decoded, each row of them from where it starts.
  const region =
    from != null &&
    fine != null &&
    from.starts.length === units &&
    from.unitsPerLine === unitsPerLine &&
    from.dc.length === dc.length
      ? from
      : null;
  if (region) {
    const base = contribution![0];
    dc.set(region.dc);
    for (let b = 0, to = 0; b < dc.length; b++) {
      const mean = dc[b] * base;
      for (let q = 0; q < perBlock; q++) parts![to++] = mean;
    }
  }

  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let u = 0; u < units; u++) {
    if (region) {
      const col = u % unitsPerLine;
      const row = (u - col) / unitsPerLine;
      if (row < region.y0 || row > region.y1 || col < region.x0 || col > region.x1) continue;
      if (col === region.x0) {
        const at = region.starts[u];
        pos = at >> 3;
        acc = buf[pos++];
        bits = 8 - (at & 7);
        pred[luma] = region.preds[u];
      }
    }
    if (restartInterval && u > 0 && u % restartInterval === 0) {
      const r = u / restartInterval - 1;
      if (r >= restarts.length || pos * 8 - bits > restarts[r] * 8) notCovered('damaged restart interval');
      pos = restarts[r];
      acc = 0;
      bits = 0;
      pred.fill(0);
    }
    const origin = Math.floor(u / unitsPerLine) * unitH * y.blocksPerLine + (u % unitsPerLine) * unitW;
    if (starts) {
      starts[u] = pos * 8 - bits;
      preds![u] = pred[luma];
    }
    // Whether a luma block of this unit has a non-zero AC coefficient (their magnitude sizes, or-ed).
    let acSizes = 0;
    for (let b = 0; b < unitComponent.length; b++) {
      const ci = unitComponent[b];
      const lumaAt = unitLumaOffset[b];
      if (bits < 16) {
        acc = (acc << 16) | (buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        bits += 16;
      }
      if (refine) {
        bits -= 1;
        if (lumaAt >= 0) dc[origin + lumaAt] |= ((acc >>> bits) & 1) << al;
      } else {
        const t = dcT[ci];
        let s: number;
        const e = t.fast[(acc >>> (bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
        if (e) {
          bits -= (e >> 8) & 0xff;
          s = e & 0xff;
        } else s = slowSymbol(t, acc, bits);
        if (s >= 0x100) {
          bits -= s >> 8;
          s &= 0xff;
        }
        if (s > 16) notCovered('bad DC value');
        if (s) {
          while (bits < s) {
            acc = (acc << 8) | buf[pos++];
            bits += 8;
          }
          bits -= s;
          const v = (acc >>> bits) & ((1 << s) - 1);
          pred[ci] += v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
        }
        if (lumaAt >= 0) dc[origin + lumaAt] = pred[ci] << al;
      }
      const needed = lumaAt >= 0 ? neededHere : null;
      if (withAc) {
        const t = acT[ci];
        const skip = t.skip;
        const sizes = t.sizes;
        for (let k = 1; k < 64;) {
          if (bits < 16) {
            acc = (acc << 16) | (buf[pos] << 8) | buf[pos + 1];
            pos += 2;
            bits += 16;
          }
          const look = (acc >>> (bits - SKIP_BITS)) & ((1 << SKIP_BITS) - 1);
          const e = skip[look];
          if (e) {
            const step1 = e & 0xff;
            if (lumaAt >= 0) acSizes |= sizes[look];
            if (needed != null) {
              // The needed coefficients among the one or two stepped over: each value is the last
              // `size` bits of what its code and magnitude take.
              const sz = sizes[look];
              const s1 = sz & 15;
              const p1 = k + step1 - 1;
              if (s1 && needed[p1]) {
                const v = (acc >>> (bits - ((e >> 16) & 0xf))) & ((1 << s1) - 1);
                noteAt[notes] = p1;
                noteValue[notes++] = v < 1 << (s1 - 1) ? v - (1 << s1) + 1 : v;
              }
              const s2 = sz >> 4;
              const p2 = k + ((e >> 8) & 0xff) - 1;
              if (s2 && k + step1 < 64 && needed[p2]) {
                const v = (acc >>> (bits - (e >>> 20))) & ((1 << s2) - 1);
                noteAt[notes] = p2;
                noteValue[notes++] = v < 1 << (s2 - 1) ? v - (1 << s2) + 1 : v;
              }
            }
            if (k + step1 < 64) {
              bits -= e >>> 20;
              k += (e >> 8) & 0xff;
            } else {
              bits -= (e >> 16) & 0xf;
              k += step1;
            }
            continue;
          }
          let rs: number;
          const f9 = t.fast[(acc >>> (bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
          if (f9) {
            bits -= (f9 >> 8) & 0xff;
            rs = f9 & 0xff;
          } else {
            rs = slowSymbol(t, acc, bits);
            bits -= rs >> 8;
            rs &= 0xff;
          }
          const size = rs & 15;
          if (lumaAt >= 0) acSizes |= size;
          if (size === 0) {
            if (rs !== 0xf0) break;
            k += 16;
          } else {
            k += rs >> 4;
            while (bits < size) {
              acc = (acc << 8) | buf[pos++];
              bits += 8;
            }
            bits -= size;
            if (needed != null && needed[k]) {
              const v = (acc >>> bits) & ((1 << size) - 1);
              noteAt[notes] = k;
              noteValue[notes++] = v < 1 << (size - 1) ? v - (1 << size) + 1 : v;
            }
            k++;
          }
        }
      }
      if (needed != null) {
        // The DC coefficient counts the same in every cell: the block's mean. Quarters (the common
        // case) are summed in locals, written out rather than looped, to stay in registers.
        const base = dc[origin + lumaAt] * contribution![0];
        const to = perBlock * (origin + lumaAt);
        if (perBlock === 4) {
          let tl = base;
          let tr = base;
          let bl = base;
          let br = base;
          for (let j = 0; j < notes; j++) {
            const at = 4 * noteAt[j];
            const c = noteValue[j];
            tl += c * contribution![at];
            tr += c * contribution![at + 1];
            bl += c * contribution![at + 2];
            br += c * contribution![at + 3];
          }
          parts![to] = tl;
          parts![to + 1] = tr;
          parts![to + 2] = bl;
          parts![to + 3] = br;
        } else {
          for (let q = 0; q < perBlock; q++) sums[q] = base;
          for (let j = 0; j < notes; j++) {
            const at = perBlock * noteAt[j];
            const c = noteValue[j];
            for (let q = 0; q < perBlock; q++) sums[q] += c * contribution![at + q];
          }
          for (let q = 0; q < perBlock; q++) parts![to + q] = sums[q];
        }
        notes = 0;
      }
    }
    if (starts && acSizes) {
      const col = u % unitsPerLine;
      const row = (u - col) / unitsPerLine;
      if (col < acX0) acX0 = col;
      if (col > acX1) acX1 = col;
      if (row < acY0) acY0 = row;
      if (row > acY1) acY1 = row;
    }
  }
  if (pos * 8 - bits > length * 8) notCovered('truncated scan');
  return { end, ...(starts ? { index: { starts, preds: preds!, unitsPerLine, x0: acX0, x1: acX1, y0: acY0, y1: acY1 } } : {}) };
}

/** A code longer than the fast table's: (length << 8) | symbol. Needs at least 16 bits in `acc`. */
function slowSymbol(t: HuffmanTable, acc: number, bits: number): number {
  for (let len = FAST_BITS + 1; len <= 16; len++) {
    const code = (acc >>> (bits - len)) & ((1 << len) - 1);
    if (code <= t.maxCode[len]) return (len << 8) | t.values[t.valPtr[len] + code];
  }
  return notCovered('bad Huffman code');
}
