/**
 * What an uploaded file is, judged from its bytes (never from a header or a file name), and how
 * large it claims to be, read from its header before anything is decoded: a decompression bomb is
 * refused while it is still a few kilobytes.
 */
import { BlankspotError } from './errors.js';
import { LIMITS } from './limits.js';
import { JPEG_MARKER, JpegStructureError, findJpegSegment, isFrameMarker, jpegSegments } from './jpeg-segments.js';

export const ALLOWED_IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type ImageType = (typeof ALLOWED_IMAGE_TYPES)[number];

export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
}

const ascii = (bytes: Uint8Array, at: number, text: string) => {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};

/** Names a few formats people upload by mistake, for a helpful 415 message. */
function otherFormat(bytes: Uint8Array): string | null {
  if (ascii(bytes, 0, '%PDF-')) return 'PDF';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'GIF';
  if (ascii(bytes, 4, 'ftyp')) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (/^(heic|heix|hevc|hevx|heim|heis|mif1|msf1)$/.test(brand)) return 'HEIC/HEIF';
    if (/^avi[fs]$/.test(brand)) return 'AVIF';
    return 'an ISO media file';
  }
  if (ascii(bytes, 0, 'II*\0') || ascii(bytes, 0, 'MM\0*')) return 'TIFF';
  if (ascii(bytes, 0, 'BM')) return 'BMP';
  if (ascii(bytes, 0, 'PK\x03\x04')) return 'a ZIP archive';
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && i < 64 && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] === 0x3c /* < */) return 'SVG, HTML or XML';
  return null;
}

/** JPEG, PNG or WebP by magic bytes; anything else is a 415. */
export function sniffImageType(bytes: Uint8Array): ImageType {
  if (bytes.length === 0) throw new BlankspotError('BAD_REQUEST', 'the request has no image');
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (ascii(bytes, 0, '\x89PNG\r\n\x1a\n')) return 'image/png';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'image/webp';
  const other = otherFormat(bytes);
  throw new BlankspotError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${other ? `${other} is` : 'this file is'} not an allowed image format (allowed: JPEG, PNG, WebP)`,
  );
}

// Markers of active or container formats. Found inside a JPEG/PNG/WebP, they make it a polyglot:
// a file that another program would open as something else.
const POLYGLOT_MARKERS = ['<script', '<html', '<svg', '<?xml', '<!doctype', '%PDF-', 'PK\x03\x04', '<?php', '<body', '<iframe'];
const SCAN_BYTES = 64 * 1024;

// The markers grouped by their first byte ('<', '%' or 'P'), so the scan can jump between
// candidates with the native indexOf instead of testing every byte in JavaScript.
const MARKERS_BY_FIRST = new Map<number, string[]>();
for (const m of POLYGLOT_MARKERS) MARKERS_BY_FIRST.set(m.charCodeAt(0), [...(MARKERS_BY_FIRST.get(m.charCodeAt(0)) ?? []), m]);

/** Whether marker `m` starts at `i`, letters matched without regard to case. */
function markerAt(bytes: Uint8Array, i: number, m: string, to: number): boolean {
  if (i + m.length > to) return false;
  for (let k = 1; k < m.length; k++) {
    const c = m.charCodeAt(k);
    const v = c >= 0x61 && c <= 0x7a ? bytes[i + k] | 0x20 : bytes[i + k];
    if (v !== c) return false;
  }
  return true;
}

/** The earliest marker in bytes [from, to). */
function scanRange(bytes: Uint8Array, from: number, to: number): string | null {
  let found: string | null = null;
  let at = to;
  for (const [first, markers] of MARKERS_BY_FIRST) {
    for (let i = bytes.indexOf(first, from); i >= 0 && i < at; i = bytes.indexOf(first, i + 1)) {
      const m = markers.find((x) => markerAt(bytes, i, x, to));
      if (m) {
        found = m;
        at = i;
        break;
      }
    }
  }
  return found;
}

type Range = [from: number, to: number];

/**
 * Where another format can hide in an image: metadata segments, comments and chunks, and whatever
 * follows the image's end. Never the compressed pixel data (JPEG scans, PNG IDAT, WebP VP8/VP8L/ALPH/ANMF),
 * where any four bytes turn up by chance: a scan of a 1613x1613 product photo held 'PK\x03\x04'.
 * Null when the structure cannot be walked; the caller then scans head and tail as before.
 */
function hidingPlaces(b: Uint8Array, type: ImageType): Range[] | null {
  const places: Range[] = [];
  if (type === 'image/jpeg') {
    try {
      // Where the walk expected the next marker: bytes it skipped before one (extraneous bytes) are scanned too.
      let expected = 2;
      for (const segment of jpegSegments(b)) {
        if (segment.start > expected) places.push([expected, segment.start]);
        expected = segment.marker === JPEG_MARKER.SOS ? Infinity : segment.end;
        if (segment.marker === JPEG_MARKER.EOI) {
          places.push([segment.end, b.length]);
          return places;
        }
        // Every segment with a payload; for a scan, its header (the entropy-coded data is stepped over).
        if (segment.end > segment.payload) places.push([segment.start, segment.end]);
      }
    } catch (e) {
      if (e instanceof JpegStructureError) return null;
      throw e;
    }
    return null;
  }
  if (type === 'image/png') {
    let i = 8;
    while (i + 12 <= b.length) {
      const end = i + 12 + readU32BE(b, i);
      if (end > b.length) return null;
      if (!ascii(b, i + 4, 'IDAT')) places.push([i, end]);
      if (ascii(b, i + 4, 'IEND')) {
        places.push([end, b.length]);
        return places;
      }
      i = end;
    }
    return null;
  }
  const riffEnd = 8 + readU32LE(b, 4);
  if (riffEnd > b.length) return null;
  let i = 12;
  while (i + 8 <= riffEnd) {
    const end = i + 8 + readU32LE(b, i + 4);
    if (end > riffEnd) return null;
    if (!WEBP_PIXEL_CHUNKS.some((c) => ascii(b, i, c))) places.push([i, end]);
    i = end + (end & 1);
  }
  places.push([riffEnd, b.length]);
  return places;
}

/** WebP chunks that hold compressed pixels (ANMF frames hold VP8/VP8L/ALPH data). */
const WEBP_PIXEL_CHUNKS = ['VP8 ', 'VP8L', 'ALPH', 'ANMF'];

function findMarker(bytes: Uint8Array, type: ImageType): string | null {
  const places = hidingPlaces(bytes, type);
  if (places) {
    for (const [from, to] of places) {
      const m = scanRange(bytes, from, to);
      if (m) return m;
    }
    return null;
  }
  const head = Math.min(bytes.length, SCAN_BYTES);
  return (
    scanRange(bytes, 0, head) ??
    (bytes.length > head ? scanRange(bytes, Math.max(head, bytes.length - SCAN_BYTES), bytes.length) : null)
  );
}

function readU32LE(b: Uint8Array, i: number) {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function readU16BE(b: Uint8Array, i: number) {
  return (b[i] << 8) | b[i + 1];
}
function readU32BE(b: Uint8Array, i: number) {
  return ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
}
function readU24LE(b: Uint8Array, i: number) {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
}

function truncated(what: string): never {
  throw new BlankspotError('UNDECODABLE_IMAGE', `the ${what} is truncated or damaged: no image size in its header`);
}

function jpegSize(b: Uint8Array): [number, number] {
  const frame = findJpegSegment(b, (s) => isFrameMarker(s.marker));
  if (frame == null || frame.end - frame.payload < 5) truncated('JPEG');
  return [readU16BE(b, frame.payload + 3), readU16BE(b, frame.payload + 1)];
}

/** A JPEG whose image data never reaches its end-of-image marker was cut off. */
function assertJpegComplete(b: Uint8Array): void {
  // Past the first start-of-scan, FF D9 can only be the end marker: entropy-coded data stuffs FF as FF 00.
  let sos = -1;
  for (let i = 2; i + 1 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] === 0xda) {
      sos = i;
      break;
    }
  }
  if (sos < 0) truncated('JPEG');
  for (let i = b.length - 2; i > sos; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return;
  truncated('JPEG');
}

function pngSize(b: Uint8Array): [number, number] {
  if (b.length < 24 || !ascii(b, 12, 'IHDR')) truncated('PNG');
  return [readU32BE(b, 16), readU32BE(b, 20)];
}

function webpSize(b: Uint8Array): [number, number] {
  if (b.length < 30) truncated('WebP');
  if (ascii(b, 12, 'VP8 ')) {
    // Lossy: a 3-byte frame tag, the start code 9d 01 2a, then 14-bit little-endian width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) truncated('WebP');
    return [(b[26] | (b[27] << 8)) & 0x3fff, (b[28] | (b[29] << 8)) & 0x3fff];
  }
  if (ascii(b, 12, 'VP8L')) {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  if (ascii(b, 12, 'VP8X')) return [readU24LE(b, 24) + 1, readU24LE(b, 27) + 1];
  truncated('WebP');
}

/**
 * Type and size of an upload, checked against the limits: 415 for formats that are not allowed or
 * polyglots, 422 for headers that are damaged or claim more pixels than the limit.
 */
export function inspectImage(bytes: Uint8Array, limits: { maxPixels: number; maxSide: number } = LIMITS): ImageInfo {
  const type = sniffImageType(bytes);
  const marker = findMarker(bytes, type);
  if (marker != null) {
    throw new BlankspotError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the file is an image and something else too (it contains '${marker.trim()}')`,
    );
  }
  const [width, height] = type === 'image/jpeg' ? jpegSize(bytes) : type === 'image/png' ? pngSize(bytes) : webpSize(bytes);
  if (type === 'image/jpeg') assertJpegComplete(bytes);
  if (width < 1 || height < 1) truncated(type.slice(6).toUpperCase());
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new BlankspotError(
      'IMAGE_TOO_LARGE',
      `the image is ${width}x${height} pixels; the limit is ${limits.maxPixels} pixels and ${limits.maxSide} per side`,
    );
  }
  return { type, width, height };
}
