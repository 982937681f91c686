/**
 * PNG decoding for Workers in plain JavaScript (fast-png), not WASM: a WASM decoder that fails on a
 * damaged file leaves its allocations behind in a memory that never shrinks, and the PNG codec's
 * wasm-bindgen glue cannot be started afresh. Measured with `npm run fuzz`: workerd grew ~230 MiB
 * per 1,000 damaged PNGs with the WASM codec. Here a failed decode is ordinary garbage.
 * Output matches libvips (the Node adapter): 16-bit samples keep their high byte, low bit depths
 * are scaled to 0-255, palettes and tRNS become RGBA.
 */
import { convertIndexedToRgb, decode, type DecodedPng } from 'fast-png';
import type { RgbaImage } from '@blankspot/core';

/** Sample i of the decoded data as 8 bits; rows of low-depth images are byte-aligned. */
function sampler(png: DecodedPng): (row: number, index: number) => number {
  const { data, depth, width, channels } = png;
  if (depth === 16) return (row, i) => data[row * width * channels + i] >> 8;
  if (depth === 8) return (row, i) => data[row * width * channels + i];
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const max = (1 << depth) - 1;
  return (row, i) => {
    const bit = i * depth;
    const byte = data[row * rowBytes + (bit >> 3)];
    return Math.round((((byte >> (8 - depth - (bit & 7))) & max) * 255) / max);
  };
}

export function decodePng(bytes: Uint8Array): RgbaImage {
  const png = decode(bytes, { checkCrc: true });
  const { width, height } = png;
  const out = new Uint8Array(width * height * 4);
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const c = png.palette[0].length;
    for (let p = 0, q = 0; p < width * height; p++, q += c) {
      out[p * 4] = rgb[q];
      out[p * 4 + 1] = rgb[q + 1];
      out[p * 4 + 2] = rgb[q + 2];
      out[p * 4 + 3] = c === 4 ? rgb[q + 3] : 255;
    }
    return { width, height, data: out };
  }
  const ch = png.channels;
  const at = sampler(png);
  // tRNS for grey or RGB: one colour (at the file's depth) that means "transparent".
  const key = png.transparency && png.transparency.length === (ch === 1 ? 1 : 3) ? png.transparency : null;
  const raw = (row: number, i: number) =>
    png.depth >= 8 ? png.data[row * width * ch + i] : (at(row, i) * ((1 << png.depth) - 1)) / 255;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = x * ch;
      const o = (y * width + x) * 4;
      if (ch <= 2) {
        const g = at(y, s);
        out[o] = out[o + 1] = out[o + 2] = g;
        out[o + 3] = ch === 2 ? at(y, s + 1) : 255;
      } else {
        out[o] = at(y, s);
        out[o + 1] = at(y, s + 1);
        out[o + 2] = at(y, s + 2);
        out[o + 3] = ch === 4 ? at(y, s + 3) : 255;
      }
      if (key && (ch === 1 ? raw(y, s) === key[0] : raw(y, s) === key[0] && raw(y, s + 1) === key[1] && raw(y, s + 2) === key[2]))
        out[o + 3] = 0;
    }
  }
  return { width, height, data: out };
}
