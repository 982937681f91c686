/**
 * The one walk over a JPEG's marker segments (ITU T.81, annex B) that every reader of JPEG structure
 * uses: the header check, the polyglot scan, EXIF orientation, the CMYK check and the block reader.
 */

/** Marker bytes: the byte after 0xFF. */
export const JPEG_MARKER = {
  /** For temporary private use in arithmetic coding; no payload. */
  TEM: 0x01,
  /** Baseline, extended sequential and progressive Huffman frames: the ones the block reader covers. */
  SOF0: 0xc0,
  SOF1: 0xc1,
  SOF2: 0xc2,
  /** Huffman tables. */
  DHT: 0xc4,
  /** Reserved for JPEG extensions; shares the frame markers' range but is no frame. */
  JPG: 0xc8,
  /** Arithmetic-coding conditioning; shares the frame markers' range but is no frame. */
  DAC: 0xcc,
  /** Restart markers 0-7, inside entropy-coded data; no payload. */
  RST0: 0xd0,
  RST7: 0xd7,
  /** Start and end of image; no payload. */
  SOI: 0xd8,
  EOI: 0xd9,
  /** Start of scan: its header, then entropy-coded data up to the next marker. */
  SOS: 0xda,
  /** Quantisation tables. */
  DQT: 0xdb,
  /** Restart interval. */
  DRI: 0xdd,
  /** APP1: EXIF (and XMP). */
  APP1: 0xe1,
  /** APP14: Adobe's colour transform. */
  APP14: 0xee,
} as const;

const M = JPEG_MARKER;

/** SOF0-SOF15, the frame headers with the image's size and components. */
export function isFrameMarker(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== M.DHT && marker !== M.JPG && marker !== M.DAC;
}

function isRestart(marker: number): boolean {
  return marker >= M.RST0 && marker <= M.RST7;
}

export interface JpegSegment {
  marker: number;
  /** Offset of the segment's 0xFF. */
  start: number;
  /** Offset of its payload, past the two length bytes (equal to `end` for markers without one). */
  payload: number;
  /** Offset just past the segment (for SOS: past its header; the entropy-coded data follows). */
  end: number;
  /**
   * SOS only: where the scan's entropy-coded data ends, set by a reader that found it while decoding
   * (the block reader), so the walk resumes there instead of searching the data a second time.
   */
  scanEnd?: number;
}

/** The file is not a JPEG whose segments can be walked: cut off, or bytes where a marker must be. */
export class JpegStructureError extends Error {}

/** Where entropy-coded data from `from` ends: the next 0xFF that is not stuffing (FF 00), a restart or a fill byte. */
export function entropyCodedEnd(b: Uint8Array, from: number): number {
  for (let i = b.indexOf(0xff, from); i >= 0 && i + 1 < b.length; i = b.indexOf(0xff, i + 1)) {
    const m = b[i + 1];
    if (m !== 0x00 && m !== 0xff && !isRestart(m)) return i;
  }
  throw new JpegStructureError('no end of image');
}

/**
 * The segments after SOI, in order, up to and including EOI; entropy-coded data after each SOS is
 * stepped over. Lazy: a reader that stops early (at the frame header, before the first scan) never
 * touches the rest. Throws JpegStructureError where the structure breaks, so each reader decides what
 * a broken file means for it.
 */
export function* jpegSegments(b: Uint8Array): Generator<JpegSegment, void, undefined> {
  if (b.length < 2 || b[0] !== 0xff || b[1] !== M.SOI) throw new JpegStructureError('not a JPEG');
  let i = 2;
  for (;;) {
    if (i + 1 >= b.length) throw new JpegStructureError('no end of image');
    if (b[i] !== 0xff) {
      // Extraneous bytes before a marker (a stray 0x00 after APP0 from old cameras and editors): libjpeg
      // warns and skips to the next 0xFF, and so does this walk. Readers that care (the polyglot scan)
      // see the skipped bytes as the gap between one segment's end and the next one's start.
      const next = b.indexOf(0xff, i);
      if (next < 0) throw new JpegStructureError('expected a marker');
      i = next;
      continue;
    }
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // a fill byte before a marker
      continue;
    }
    if (marker === M.EOI || marker === M.SOI || marker === M.TEM || isRestart(marker)) {
      yield { marker, start: i, payload: i + 2, end: i + 2 };
      if (marker === M.EOI) return;
      i += 2;
      continue;
    }
    if (i + 3 >= b.length) throw new JpegStructureError('truncated segment');
    const length = (b[i + 2] << 8) | b[i + 3];
    const end = i + 2 + length;
    if (length < 2 || end > b.length) throw new JpegStructureError('segment runs past the end');
    const segment: JpegSegment = { marker, start: i, payload: i + 4, end };
    yield segment;
    i = marker === M.SOS ? (segment.scanEnd ?? entropyCodedEnd(b, end)) : end;
  }
}

/**
 * The first segment `wanted` accepts, walking no further than a segment `stop` accepts; null when
 * there is none or the structure breaks first (a reader of one header field has no use for the reason).
 */
export function findJpegSegment(
  b: Uint8Array,
  wanted: (segment: JpegSegment) => boolean,
  stop: (segment: JpegSegment) => boolean = () => false,
): JpegSegment | null {
  try {
    for (const segment of jpegSegments(b)) {
      if (wanted(segment)) return segment;
      if (stop(segment)) return null;
    }
  } catch (e) {
    if (!(e instanceof JpegStructureError)) throw e;
  }
  return null;
}
