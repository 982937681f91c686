/**
 * CMYK (and YCCK) JPEGs, decoded the same way on every runtime. The WASM decoder in Workers cannot
 * convert CMYK, and sharp converts it through an ICC profile that nothing else has; a pure-JS decoder
 * shared by both adapters keeps the API's answer identical wherever it runs.
 */
import jpeg from 'jpeg-js';
import {
  BlankspotError,
  JPEG_MARKER,
  JpegStructureError,
  applyOrientation,
  isFrameMarker,
  jpegSegments,
  readExifOrientation,
  type RgbaImage,
} from '@blankspot/core';

/** True when the JPEG's frame header declares four colour components. */
export function isCmykJpeg(b: Uint8Array): boolean {
  try {
    for (const { marker, payload, end } of jpegSegments(b)) {
      // The frame header's sixth byte is the number of components.
      if (isFrameMarker(marker)) return end - payload > 5 && b[payload + 5] === 4;
      if (marker === JPEG_MARKER.SOS) return false;
    }
  } catch (e) {
    if (!(e instanceof JpegStructureError)) throw e;
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
