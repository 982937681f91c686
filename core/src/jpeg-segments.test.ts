import { describe, expect, it } from 'vitest';
import {
  JPEG_MARKER as M,
  JpegStructureError,
  entropyCodedEnd,
  isFrameMarker,
  jpegSegments,
  type JpegSegment,
} from './jpeg-segments.js';

const segment = (marker: number, payload: number[]) => [
  0xff,
  marker,
  (payload.length + 2) >> 8,
  (payload.length + 2) & 0xff,
  ...payload,
];

// A JPEG's structure (not a decodable image): metadata, a frame, a scan whose entropy-coded data holds
// stuffed FF 00, a restart marker and the bytes of markers that must not end it, a fill byte, EOI.
const scanData = [0x12, 0xff, 0x00, 0x34, 0xff, M.RST0, 0x56, 0xff, 0x00, 0xda, 0x78];
const file = Uint8Array.from([
  0xff,
  M.SOI,
  ...segment(M.APP1, [0x45, 0x78, 0x69, 0x66, 0, 0]),
  ...segment(M.DQT, new Array(65).fill(1)),
  ...segment(M.SOF0, [8, 0, 16, 0, 24, 1, 1, 0x11, 0]),
  ...segment(M.SOS, [1, 1, 0, 0, 63, 0]),
  ...scanData,
  0xff,
  0xff,
  M.EOI,
]);

describe('jpegSegments', () => {
  it('walks every segment in order, stepping over entropy-coded data, to EOI', () => {
    const seen = [...jpegSegments(file)];
    expect(seen.map((s) => s.marker)).toEqual([M.APP1, M.DQT, M.SOF0, M.SOS, M.EOI]);
    const sof = seen[2];
    expect(file[sof.start]).toBe(0xff);
    expect(sof.end - sof.payload).toBe(9);
    expect(isFrameMarker(sof.marker)).toBe(true);
    const sos = seen[3];
    // EOI follows the scan data and one fill byte.
    expect(seen[4].start).toBe(sos.end + scanData.length + 1);
    expect(seen[4].end).toBe(file.length);
  });

  it('finds the end of entropy-coded data past stuffing, restarts and fill bytes', () => {
    const sos = [...jpegSegments(file)][3];
    // At EOI's own FF: the fill byte before it is stepped over too.
    expect(entropyCodedEnd(file, sos.end)).toBe(sos.end + scanData.length + 1);
  });

  it('resumes where a reader says the scan ended', () => {
    const walk = (scanEnd: (sos: JpegSegment) => number) => {
      const markers: number[] = [];
      for (const s of jpegSegments(file)) {
        markers.push(s.marker);
        if (s.marker === M.SOS) s.scanEnd = scanEnd(s);
      }
      return markers;
    };
    // A decoder that stopped at the fill byte before EOI: the walk goes on from there to EOI.
    expect(walk((sos) => sos.end + scanData.length).at(-1)).toBe(M.EOI);
    // One that says the scan ended where it began: the walk reads the scan's stuffed FF 00 as a marker
    // whose length runs past the file. Searching the data itself (ignoring scanEnd) would not.
    expect(() => walk((sos) => sos.end)).toThrow(/runs past the end/);
  });

  it('is lazy: a reader that stops at the frame header reads a file cut off after it', () => {
    const cut = file.subarray(0, file.length - 8); // part of the scan data and EOI cut off
    expect(() => [...jpegSegments(cut)]).toThrow(JpegStructureError);
    let frame: JpegSegment | undefined;
    for (const s of jpegSegments(cut))
      if (isFrameMarker(s.marker)) {
        frame = s;
        break;
      }
    expect(frame?.marker).toBe(M.SOF0);
  });

  it('throws a JpegStructureError where the structure breaks', () => {
    const walk = (b: Uint8Array) => () => [...jpegSegments(b)];
    expect(walk(Uint8Array.from([0x89, 0x50]))).toThrow(JpegStructureError); // not a JPEG
    expect(walk(file.subarray(0, file.length - 3))).toThrow(/no end of image/);
    expect(walk(file.subarray(0, 20))).toThrow(/runs past the end/);
    const junk = file.slice(0, 2 + 10);
    expect(walk(Uint8Array.from([...junk, 0x00, 0x01, 0x02]))).toThrow(/expected a marker/); // no 0xFF follows
    const short = file.slice();
    short[2 + 10 + 3] = 1; // DQT length 1: shorter than its own length field
    expect(walk(short)).toThrow(/runs past the end/);
  });

  it('skips extraneous bytes before a marker, as libjpeg does, and resumes at the next one', () => {
    const markers = (b: Uint8Array) => [...jpegSegments(b)].map((s) => [s.marker, s.start] as const);
    const clean = markers(file);
    // Two stray bytes where the second segment's 0xFF must be: the same segments, two bytes later.
    const at = clean[1][1];
    const stray = Uint8Array.from([...file.subarray(0, at), 0x00, 0x13, ...file.subarray(at)]);
    expect(markers(stray)).toEqual(clean.map(([m, start], k) => [m, k === 0 ? start : start + 2]));
  });

  it('knows which markers are frames', () => {
    for (let m = 0xc0; m <= 0xcf; m++) expect(isFrameMarker(m)).toBe(![M.DHT, M.JPG, M.DAC].includes(m as 0xc4));
    expect(isFrameMarker(M.SOS)).toBe(false);
  });
});
