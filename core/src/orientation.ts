/**
 * EXIF orientation for runtimes whose decoders ignore it (WASM decoders in Workers). Node's sharp
 * applies it itself; both must end with the same upright pixels.
 */
import type { RgbaImage } from './preprocess.js';
import type { ImageType } from './image-format.js';
import { JPEG_MARKER, findJpegSegment } from './jpeg-segments.js';

function tiffOrientation(b: Uint8Array, start: number, end: number): number {
  if (start + 8 > end) return 1;
  const little = b[start] === 0x49 && b[start + 1] === 0x49;
  if (!little && !(b[start] === 0x4d && b[start + 1] === 0x4d)) return 1;
  const u16 = (i: number) => (little ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (i: number) =>
    little
      ? (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 0x1000000
      : b[i] * 0x1000000 + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return 1;
  const entries = u16(ifd);
  for (let k = 0; k < entries; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > end) return 1;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** The EXIF orientation (1-8) of a JPEG, PNG (eXIf) or WebP (EXIF chunk); 1 when there is none. */
export function readExifOrientation(b: Uint8Array, type: ImageType): number {
  if (type === 'image/jpeg') {
    // APP1 "Exif\0\0" then a TIFF header (an APP1 may also hold XMP), before the image data starts.
    const exif = findJpegSegment(
      b,
      ({ marker, payload: p }) =>
        marker === JPEG_MARKER.APP1 && b[p] === 0x45 && b[p + 1] === 0x78 && b[p + 2] === 0x69 && b[p + 3] === 0x66,
      ({ marker }) => marker === JPEG_MARKER.SOS || marker === JPEG_MARKER.EOI,
    );
    return exif ? tiffOrientation(b, exif.payload + 6, exif.end) : 1;
  }
  if (type === 'image/png') {
    let i = 8;
    while (i + 12 <= b.length) {
      const len = b[i] * 0x1000000 + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
      const name = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
      if (name === 'eXIf') return tiffOrientation(b, i + 8, Math.min(b.length, i + 8 + len));
      if (name === 'IDAT' || name === 'IEND') return 1;
      i += 12 + len;
    }
    return 1;
  }
  let i = 12;
  while (i + 8 <= b.length) {
    // Unsigned: a chunk size with its top bit set must not send the scan backwards (found by fuzzing).
    const len = (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16)) + b[i + 7] * 0x1000000;
    const name = String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
    if (name === 'EXIF') {
      let s = i + 8;
      if (b[s] === 0x45 && b[s + 1] === 0x78) s += 6; // some writers keep the "Exif\0\0" prefix
      return tiffOrientation(b, s, Math.min(b.length, i + 8 + len));
    }
    i += 8 + len + (len & 1);
  }
  return 1;
}

/**
 * Where the pixel shown at (x, y) of an upright image is stored, for an EXIF orientation (1-8) and
 * the stored size w x h. One mapping for every grid that gets turned: the pixels and the model input.
 */
export function storedPosition(orientation: number, x: number, y: number, w: number, h: number): [number, number] {
  switch (orientation) {
    case 2:
      return [w - 1 - x, y];
    case 3:
      return [w - 1 - x, h - 1 - y];
    case 4:
      return [x, h - 1 - y];
    case 5:
      return [y, x];
    case 6:
      return [y, h - 1 - x];
    case 7:
      return [w - 1 - y, h - 1 - x];
    case 8:
      return [w - 1 - y, x];
    default:
      return [x, y];
  }
}

/** Pixels turned upright for an EXIF orientation (1-8), as a viewer shows them. */
export function applyOrientation(image: RgbaImage, orientation: number): RgbaImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(w * h * 4);
  const aligned = data.byteOffset % 4 === 0 ? data : Uint8Array.from(data);
  const src = new Uint32Array(aligned.buffer, aligned.byteOffset, w * h);
  const dst = new Uint32Array(out.buffer);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const [sx, sy] = storedPosition(orientation, x, y, w, h);
      dst[y * ow + x] = src[sy * w + sx];
    }
  }
  return { width: ow, height: oh, data: out };
}
