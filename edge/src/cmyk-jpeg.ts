/**
 * CMYK (and YCCK) JPEGs, decoded the same way on every runtime. The WASM decoder in Workers cannot
 * convert CMYK, and sharp converts it through an ICC profile that nothing else has; a pure-JS decoder
 * shared by both adapters keeps the API's answer identical wherever it runs.
 */
import jpeg from 'jpeg-js';
import { BlankspotError, applyOrientation, readExifOrientation, type RgbaImage } from '@blankspot/core';

/** True when the JPEG's frame header declares four colour components. */
export function isCmykJpeg(b: Uint8Array): boolean {
  let i = 2;
  while (i + 9 < b.length && b[i] === 0xff) {
    const marker = b[i + 1];
    const len = (b[i + 2] << 8) | b[i + 3];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return b[i + 9] === 4;
    if (marker === 0xda) return false;
    i += 2 + len;
  }
  return false;
}

export function decodeCmykJpeg(bytes: Uint8Array, limits: { maxPixels: number }): RgbaImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: limits.maxPixels / 1e6,
      maxMemoryUsageInMB: 1024,
    });
  } catch {
    throw new BlankspotError('UNDECODABLE_IMAGE', 'the image cannot be decoded: it is damaged or truncated');
  }
  const rgba = { width: decoded.width, height: decoded.height, data: decoded.data };
  return applyOrientation(rgba, readExifOrientation(bytes, 'image/jpeg'));
}
