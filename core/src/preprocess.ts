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
const WR = 0.299 / 255;
const WG = 0.587 / 255;
const WB = 0.114 / 255;

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
    for (const [src, dst, w] of xw) tmp[trow + dst] += data[row + src] * w;
  }
  // Vertical pass: outHeight x outWidth.
  const out = new Float32Array(outHeight * outWidth);
  for (const [src, dst, w] of yw) {
    const srow = src * outWidth;
    const drow = dst * outWidth;
    for (let x = 0; x < outWidth; x++) out[drow + x] += tmp[srow + x] * w;
  }
  return { width: outWidth, height: outHeight, data: out };
}

/** (source index, destination index, weight) triples; weights of one destination sum to 1. */
function areaWeights(inSize: number, outSize: number): Array<[number, number, number]> {
  const scale = inSize / outSize;
  const triples: Array<[number, number, number]> = [];
  for (let d = 0; d < outSize; d++) {
    const start = d * scale;
    const end = start + scale;
    for (let s = Math.floor(start); s < Math.min(Math.ceil(end), inSize); s++) {
      const overlap = Math.min(end, s + 1) - Math.max(start, s);
      if (overlap > 1e-9) triples.push([s, d, overlap / scale]);
    }
  }
  return triples;
}

/**
 * The one preprocessing step of blankspot: decoded RGBA of any size to the model input,
 * 64x64 greyscale in [0,1] (Float32Array of 4096 values, row-major). Decoding and EXIF
 * orientation belong to the runtime adapters, before this.
 */
export function preprocess(image: RgbaImage): Float32Array {
  return greyToInput(rgbaToGrey(image));
}

/** Resize an already greyscale image to the model input and clamp rounding drift to [0,1]. */
export function greyToInput(grey: GreyImage): Float32Array {
  const out =
    grey.width === INPUT_SIZE && grey.height === INPUT_SIZE
      ? Float32Array.from(grey.data)
      : resizeArea(grey, INPUT_SIZE, INPUT_SIZE).data;
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
