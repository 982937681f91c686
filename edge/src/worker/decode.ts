/**
 * Decoding in Workers (sharp cannot run there): MozJPEG and libwebp as WASM via jSquash, each given
 * its module precompiled by wrangler, and PNG in plain JavaScript (png.ts says why). EXIF
 * orientation is applied by the core.
 */
import decodeJpeg, { init as initJpeg } from '@jsquash/jpeg/decode.js';
import decodeWebp, { init as initWebp } from '@jsquash/webp/decode.js';
import JPEG_WASM from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import WEBP_WASM from '@jsquash/webp/codec/dec/webp_dec.wasm';
import jpeg from 'jpeg-js';
import {
  BlankspotError,
  LIMITS,
  applyOrientation,
  decodeCmykJpeg,
  firstWebpFrame,
  isCmykJpeg,
  readExifOrientation,
  type ImageDecoder,
  type ImageInfo,
  type RgbaImage,
} from '@blankspot/core';
import { decodePng } from './png.js';

// The codecs return ImageData, which Workers do not define: a minimal stand-in with the same fields.
if (typeof (globalThis as { ImageData?: unknown }).ImageData === 'undefined') {
  (globalThis as { ImageData?: unknown }).ImageData = class ImageData {
    constructor(
      readonly data: Uint8ClampedArray,
      readonly width: number,
      readonly height: number,
    ) {}
  };
}

// Each codec starts on its first photo of that type, so a cold isolate only instantiates what it needs.
// (jSquash's init assigns its instance synchronously; decode awaits it.)
const started = { jpeg: false, webp: false };

function start(type: ImageInfo['type']): void {
  if (type === 'image/jpeg' && !started.jpeg) {
    started.jpeg = true;
    void initJpeg(JPEG_WASM);
  } else if (type === 'image/webp' && !started.webp) {
    started.webp = true;
    void initWebp(WEBP_WASM);
  }
}

/**
 * A WASM memory never shrinks, and a decoder that fails mid-way (damaged data) leaves whatever it
 * had allocated behind. So after a failure, or after a photo larger than this, the MozJPEG or
 * libwebp instance is replaced by a fresh one from the same compiled module (a few ms) and the old
 * memory goes with the old instance.
 */
const RECYCLE_PIXELS = 4_000_000;

function recycle(type: ImageInfo['type']): void {
  if (type === 'image/jpeg') void initJpeg(JPEG_WASM);
  else if (type === 'image/webp') void initWebp(WEBP_WASM);
}

export const wasmDecoder: ImageDecoder = {
  async decode(bytes: Uint8Array, info: ImageInfo): Promise<RgbaImage> {
    if (info.type === 'image/jpeg' && isCmykJpeg(bytes)) return decodeCmykJpeg(bytes, LIMITS, jpeg.decode);
    start(info.type);
    const undecodable = () => new BlankspotError('UNDECODABLE_IMAGE', 'the image cannot be decoded: it is damaged or truncated');
    const frame = info.type === 'image/webp' ? firstWebpFrame(bytes) : null;
    const source = frame?.still ?? bytes;
    const buffer = source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength) as ArrayBuffer;
    let image: { data: Uint8Array | Uint8ClampedArray; width: number; height: number };
    try {
      image =
        info.type === 'image/jpeg'
          ? await decodeJpeg(buffer)
          : info.type === 'image/png'
            ? decodePng(source)
            : await decodeWebp(buffer);
    } catch {
      recycle(info.type);
      throw undecodable();
    }
    if (image == null) {
      recycle(info.type);
      throw undecodable();
    }
    if (image.width * image.height > RECYCLE_PIXELS) recycle(info.type);
    let rgba: RgbaImage = {
      width: image.width,
      height: image.height,
      data: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength),
    };
    // An animation's first frame sits somewhere on a transparent canvas of the file's declared size.
    if (frame) rgba = placeOnCanvas(rgba, frame.x, frame.y, frame.canvasWidth, frame.canvasHeight);
    if (rgba.width !== info.width || rgba.height !== info.height) throw undecodable();
    return applyOrientation(rgba, readExifOrientation(bytes, info.type));
  },
};

function placeOnCanvas(image: RgbaImage, x: number, y: number, width: number, height: number): RgbaImage {
  if (x === 0 && y === 0 && image.width === width && image.height === height) return image;
  const out = new Uint8Array(width * height * 4);
  for (let r = 0; r < image.height && y + r < height; r++) {
    const n = Math.min(image.width, width - x) * 4;
    if (n > 0) out.set(image.data.subarray(r * image.width * 4, r * image.width * 4 + n), ((y + r) * width + x) * 4);
  }
  return { width, height, data: out };
}
