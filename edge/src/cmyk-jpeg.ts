/**
 * CMYK (and YCCK) JPEGs, decoded the same way on every runtime. The WASM decoder in Workers cannot
 * convert CMYK, and sharp converts it through an ICC profile that nothing else has; a pure-JS decoder
 * shared by both adapters keeps the API's answer identical wherever it runs.
 */
import jpeg from 'jpeg-js';
import {
  BlankspotError,
  JPEG_MARKER,
  applyOrientation,
  findJpegSegment,
  isFrameMarker,
  readExifOrientation,
  type RgbaImage,
} from '@blankspot/core';

/** True when the JPEG's frame header declares four colour components. */
export function isCmykJpeg(b: Uint8Array): boolean {
  const frame = findJpegSegment(
    b,
    ({ marker }) => isFrameMarker(marker),
    ({ marker }) => marker === JPEG_MARKER.SOS,
  );
  // The frame header's sixth byte is the number of components.
  return frame != null && frame.end - frame.payload > 5 && b[frame.payload + 5] === 4;
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
