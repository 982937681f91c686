/**
 * CMYK (and YCCK) JPEGs, decoded the same way on every runtime. The WASM decoder in Workers cannot
 * convert CMYK, and sharp converts it through an ICC profile that nothing else has; one pure-JS decoder
 * (jpeg-js, passed in by each adapter so that the core imports nothing) keeps the API's answer identical
 * wherever it runs.
 */
import { BlankspotError } from './errors.js';
import { JPEG_MARKER, findJpegSegment, isFrameMarker } from './jpeg-segments.js';
import { applyOrientation, readExifOrientation } from './orientation.js';
import type { RgbaImage } from './preprocess.js';

/** jpeg-js's `decode`, as the adapters pass it. */
export type JpegJsDecode = (
  bytes: Uint8Array,
  options: { useTArray: true; formatAsRGBA: true; maxResolutionInMP: number; maxMemoryUsageInMB: number },
) => { width: number; height: number; data: Uint8Array };

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

export function decodeCmykJpeg(bytes: Uint8Array, limits: { maxPixels: number }, decode: JpegJsDecode): RgbaImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = decode(bytes, {
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
