/** The browser's image decoder port: the browser's own decoding, pixels read back exactly, or the GPU's input. */
import { BlankspotError, type ImageDecoder, type ImageInfo, type RgbaImage } from '@blankspot/core';
import { preprocessOnGpu } from './gpu-preprocess.js';

/** The first frame decoded upright (EXIF applied), without colour-space conversion. */
async function decodeBitmap(bytes: Uint8Array, info: ImageInfo): Promise<ImageBitmap> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
      imageOrientation: 'from-image',
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch {
    throw new BlankspotError('UNDECODABLE_IMAGE', 'the image cannot be decoded: it is damaged or truncated');
  }
  // Orientation 5-8 swap sides: the header gave the stored size, the bitmap is upright.
  const swapped = bitmap.width === info.height && bitmap.height === info.width && info.width !== info.height;
  if (!swapped && (bitmap.width !== info.width || bitmap.height !== info.height)) {
    bitmap.close();
    throw new BlankspotError('UNDECODABLE_IMAGE', 'the image cannot be decoded: it is damaged or truncated');
  }
  return bitmap;
}

/**
 * The browser's port of the core pipeline: its own decoder, and where WebGL runs on real hardware
 * (`gpu`), the whole photo's model input computed by a shader so a large photo is never read back.
 */
export function browserDecoder(gpu: boolean): ImageDecoder {
  return {
    async decode(bytes, info): Promise<RgbaImage> {
      const bitmap = await decodeBitmap(bytes, info);
      try {
        const { width, height } = bitmap;
        return { width, height, data: readPixelsExact(bitmap) ?? readPixels2d(bitmap) };
      } finally {
        bitmap.close();
      }
    },
    decodeToInput: gpu
      ? async (bytes, info, size) => {
          const bitmap = await decodeBitmap(bytes, info);
          try {
            const input = preprocessOnGpu(bitmap, size);
            return input ? { input, width: bitmap.width, height: bitmap.height } : null;
          } finally {
            bitmap.close();
          }
        }
      : undefined,
  };
}

/**
 * Pixels exactly as decoded, through a WebGL texture: a 2D canvas stores colours premultiplied by
 * alpha, which rounds semi-transparent pixels. Null when WebGL is not available.
 */
function readPixelsExact(bitmap: ImageBitmap): Uint8Array | null {
  const canvas = new OffscreenCanvas(1, 1);
  const gl = canvas.getContext('webgl2', { premultipliedAlpha: false, antialias: false });
  if (!gl || bitmap.width > gl.getParameter(gl.MAX_TEXTURE_SIZE) || bitmap.height > gl.getParameter(gl.MAX_TEXTURE_SIZE))
    return null;
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const out = new Uint8Array(bitmap.width * bitmap.height * 4);
    // Rows come back in upload order: texture row 0 is image row 0.
    gl.readPixels(0, 0, bitmap.width, bitmap.height, gl.RGBA, gl.UNSIGNED_BYTE, out);
    return gl.getError() === gl.NO_ERROR ? out : null;
  } finally {
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

function readPixels2d(bitmap: ImageBitmap): Uint8Array {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' })!;
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace: 'srgb' });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
