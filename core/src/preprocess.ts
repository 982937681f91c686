import { INPUT_SIZE } from './contract.js';

/** Decoded pixels as every runtime adapter hands them over: 8-bit RGBA, row-major, no padding. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** A single-channel float image, row-major, values in [0,1]. */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

// Rec.601 luma weights, pre-divided by 255 so one multiply-add per channel gives [0,1].
/** @internal shared with framing.ts */
export const WR = 0.299 / 255;
/** @internal */
export const WG = 0.587 / 255;
/** @internal */
export const WB = 0.114 / 255;

/**
 * Greyscale in [0,1] at the image's own resolution; transparent pixels composed onto white.
 * Composition happens per channel before luma, which is what "alpha over white" means.
 */
export function rgbaToGrey(image: RgbaImage): GreyImage {
  const { width, height, data } = image;
  assertRgba(image);
  const out = new Float32Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += 4) {
    const a = data[p + 3];
    const luma = WR * data[p] + WG * data[p + 1] + WB * data[p + 2];
    // Alpha over white: c*a + 1*(1-a), with a in [0,1].
    out[i] = a === 255 ? luma : (luma * a) / 255 + (255 - a) / 255;
  }
  return { width, height, data: out };
}

/**
 * Area-averaging resize (each output pixel is the exact mean of the source area it covers,
 * fractional pixels weighted by coverage). Separable: rows first, then columns. Works for up- and
 * down-scaling; for upscaling it degenerates to nearest-neighbour area weights.
 */
export function resizeArea(image: GreyImage, outWidth: number, outHeight: number): GreyImage {
  const { width, height, data } = image;
  if (width < 1 || height < 1) throw new RangeError('cannot resize an empty image');
  const xw = areaWeights(width, outWidth);
  const yw = areaWeights(height, outHeight);
  // Horizontal pass: height x outWidth.
  const tmp = new Float32Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const trow = y * outWidth;
    for (let k = 0; k < xw.count; k++) tmp[trow + xw.dst[k]] += data[row + xw.src[k]] * xw.weight[k];
  }
  // Vertical pass: outHeight x outWidth.
  const out = new Float32Array(outHeight * outWidth);
  for (let k = 0; k < yw.count; k++) {
    const srow = yw.src[k] * outWidth;
    const drow = yw.dst[k] * outWidth;
    const w = yw.weight[k];
    for (let x = 0; x < outWidth; x++) out[drow + x] += tmp[srow + x] * w;
  }
  return { width: outWidth, height: outHeight, data: out };
}

export interface AreaWeights {
  count: number;
  src: Int32Array;
  dst: Int32Array;
  weight: Float64Array;
}

/**
 * (source index, destination index, weight) triples as flat arrays, grouped by destination; the
 * weights of one destination sum to 1. Sources are cells of `cell` pixels (the last one cut at
 * `inSize`): single pixels, or a JPEG's 8x8 blocks along one axis.
 */
export function areaWeights(inSize: number, outSize: number, cell = 1): AreaWeights {
  const scale = inSize / outSize;
  const cells = Math.ceil(inSize / cell);
  const max = cells + outSize + 1;
  const src = new Int32Array(max);
  const dst = new Int32Array(max);
  const weight = new Float64Array(max);
  let count = 0;
  for (let d = 0; d < outSize; d++) {
    const start = d * scale;
    const end = start + scale;
    for (let s = Math.floor(start / cell); s < cells && s * cell < end; s++) {
      const overlap = Math.min(end, (s + 1) * cell, inSize) - Math.max(start, s * cell);
      if (overlap > 1e-9) {
        src[count] = s;
        dst[count] = d;
        weight[count++] = overlap / scale;
      }
    }
  }
  return { count, src, dst, weight };
}

/**
 * The one preprocessing step of blankspot: decoded RGBA of any size to the model input,
 * `size` x `size` greyscale in [0,1] (64x64 by default: Float32Array of 4096 values, row-major; a
 * model's manifest entry may ask for another side). Decoding and EXIF
 * orientation belong to the runtime adapters, before this.
 *
 * Equal to greyToInput(rgbaToGrey(image)), computed in one pass over the pixels with a 64-value
 * row accumulator instead of a full-size grey copy: a 12-megapixel photo costs no extra 48 MB.
 */
export function preprocess(image: RgbaImage, size = INPUT_SIZE): Float32Array {
  assertRgba(image);
  const { width, height, data } = image;
  const xw = bySource(areaWeights(width, size), width);
  const yw = bySource(areaWeights(height, size), height);
  const out = new Float64Array(size * size);
  // One spare slot: when downscaling, every source pixel feeds its column d and perhaps d+1.
  const row = new Float64Array(size + 1);
  const down = width >= size;
  const d0 = new Int32Array(width);
  const w0 = new Float64Array(width);
  const w1 = new Float64Array(width);
  if (down) {
    for (let x = 0; x < width; x++) {
      const k = xw.start[x];
      d0[x] = xw.dst[k];
      w0[x] = xw.weight[k];
      w1[x] = xw.start[x + 1] - k > 1 ? xw.weight[k + 1] : 0;
    }
  }
  for (let y = 0, p = 0; y < height; y++) {
    row.fill(0);
    if (down) {
      // Running sums in registers for the current column and the next: consecutive pixels share a
      // column, and adding into memory each time would chain every pixel on a store-load round trip.
      let cur = d0[0];
      let acc = 0;
      let next = 0;
      for (let x = 0; x < width; x++, p += 4) {
        const a = data[p + 3];
        let v = WR * data[p] + WG * data[p + 1] + WB * data[p + 2];
        if (a !== 255) v = (v * a) / 255 + (255 - a) / 255;
        if (d0[x] !== cur) {
          row[cur] += acc;
          acc = next;
          next = 0;
          cur = d0[x];
        }
        acc += v * w0[x];
        next += v * w1[x];
      }
      row[cur] += acc;
      row[cur + 1] += next;
    } else {
      for (let x = 0; x < width; x++, p += 4) {
        const a = data[p + 3];
        let v = WR * data[p] + WG * data[p + 1] + WB * data[p + 2];
        if (a !== 255) v = (v * a) / 255 + (255 - a) / 255;
        for (let k = xw.start[x]; k < xw.start[x + 1]; k++) row[xw.dst[k]] += v * xw.weight[k];
      }
    }
    for (let k = yw.start[y]; k < yw.start[y + 1]; k++) {
      const d = yw.dst[k] * size;
      const w = yw.weight[k];
      for (let x = 0; x < size; x++) out[d + x] += row[x] * w;
    }
  }
  const input = new Float32Array(out.length);
  for (let i = 0; i < out.length; i++) input[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return input;
}

/** The same weights grouped by source index (CSR): the fused pass walks sources in order. */
function bySource(w: AreaWeights, inSize: number): { start: Int32Array; dst: Int32Array; weight: Float64Array } {
  const start = new Int32Array(inSize + 1);
  for (let k = 0; k < w.count; k++) start[w.src[k] + 1]++;
  for (let s = 0; s < inSize; s++) start[s + 1] += start[s];
  const fill = start.slice(0, inSize);
  const dst = new Int32Array(w.count);
  const weight = new Float64Array(w.count);
  for (let k = 0; k < w.count; k++) {
    const at = fill[w.src[k]]++;
    dst[at] = w.dst[k];
    weight[at] = w.weight[k];
  }
  return { start, dst, weight };
}

/** Resize an already greyscale image to the model input and clamp rounding drift to [0,1]. */
export function greyToInput(grey: GreyImage, size = INPUT_SIZE): Float32Array {
  const out = grey.width === size && grey.height === size ? Float32Array.from(grey.data) : resizeArea(grey, size, size).data;
  for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return out;
}

function assertRgba(image: RgbaImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`bad image size ${width}x${height}`);
  }
  if (data.length !== width * height * 4) {
    throw new RangeError(`RGBA data has ${data.length} bytes, expected ${width * height * 4}`);
  }
}
