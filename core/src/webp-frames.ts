/**
 * The first frame of an animated WebP as a still WebP, for decoders that only read stills (libwebp's
 * simple API in Workers). Node's sharp reads the first frame itself.
 */

export interface WebpFrame {
  /** A complete still WebP file holding the frame. */
  still: Uint8Array;
  /** Where the frame sits on the animation's canvas, and the canvas size. */
  x: number;
  y: number;
  canvasWidth: number;
  canvasHeight: number;
}

const tag = (b: Uint8Array, i: number) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
const u24 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32 = (b: Uint8Array, i: number) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 0x1000000;

function chunk(name: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + (data.length & 1));
  for (let i = 0; i < 4; i++) out[i] = name.charCodeAt(i);
  new DataView(out.buffer).setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}

function riff(chunks: Uint8Array[]): Uint8Array {
  const size = 4 + chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(8 + size);
  out.set([0x52, 0x49, 0x46, 0x46]); // RIFF
  new DataView(out.buffer).setUint32(4, size, true);
  out.set([0x57, 0x45, 0x42, 0x50], 8); // WEBP
  let at = 12;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The first frame when `bytes` is an animated WebP; null for stills or anything unreadable. */
export function firstWebpFrame(bytes: Uint8Array): WebpFrame | null {
  if (bytes.length < 30 || tag(bytes, 12) !== 'VP8X' || (bytes[20] & 0x02) === 0) return null; // no animation flag
  const canvasWidth = u24(bytes, 24) + 1;
  const canvasHeight = u24(bytes, 27) + 1;
  for (let i = 30; i + 8 <= bytes.length;) {
    const len = u32(bytes, i + 4);
    if (tag(bytes, i) === 'ANMF') {
      const d = i + 8;
      if (d + 16 > bytes.length) return null;
      const x = 2 * u24(bytes, d);
      const y = 2 * u24(bytes, d + 3);
      const w = u24(bytes, d + 6) + 1;
      const h = u24(bytes, d + 9) + 1;
      // Frame data: optional ALPH, then VP8 or VP8L, as sub-chunks.
      const parts: Uint8Array[] = [];
      let alpha = false;
      for (let j = d + 16; j + 8 <= Math.min(bytes.length, d + len);) {
        const l = u32(bytes, j + 4);
        const name = tag(bytes, j);
        if (name === 'ALPH' || name === 'VP8 ' || name === 'VP8L') {
          parts.push(bytes.subarray(j, Math.min(bytes.length, j + 8 + l + (l & 1))));
          alpha ||= name === 'ALPH';
        }
        j += 8 + l + (l & 1);
      }
      if (parts.length === 0) return null;
      let still: Uint8Array;
      if (alpha) {
        const vp8x = new Uint8Array(10);
        vp8x[0] = 0x10; // alpha flag
        vp8x.set([(w - 1) & 0xff, ((w - 1) >> 8) & 0xff, ((w - 1) >> 16) & 0xff], 4);
        vp8x.set([(h - 1) & 0xff, ((h - 1) >> 8) & 0xff, ((h - 1) >> 16) & 0xff], 7);
        still = riff([chunk('VP8X', vp8x), ...parts]);
      } else {
        still = riff(parts);
      }
      return { still, x, y, canvasWidth, canvasHeight };
    }
    i += 8 + len + (len & 1);
  }
  return null;
}
