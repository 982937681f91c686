/** Properties of the decode-free paths that every runtime shares, over generated inputs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlankspotError, firstWebpFrame, inspectImage, preprocess, readExifOrientation, sniffImageType } from './index.js';
import { greyToInput, rgbaToGrey } from './preprocess.js';

const image = fc
  .record({ width: fc.integer({ min: 1, max: 160 }), height: fc.integer({ min: 1, max: 160 }), seed: fc.integer() })
  .map(({ width, height, seed }) => {
    const data = new Uint8Array(width * height * 4);
    let x = seed | 1;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    return { width, height, data };
  });

describe('preprocess, for any RGBA image', () => {
  it('gives 4096 values in [0,1], equal to the two-step definition', () => {
    fc.assert(
      fc.property(image, (img) => {
        const out = preprocess(img);
        expect(out.length).toBe(4096);
        const ref = greyToInput(rgbaToGrey(img));
        let worst = 0;
        for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
        expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
        expect(worst).toBeLessThan(1e-5);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps the mean brightness (area averaging loses nothing)', () => {
    // Any size: every source pixel's weights sum to (64/width)*(64/height) of the output.
    fc.assert(
      fc.property(image, (img) => {
        const grey = rgbaToGrey(img).data;
        const mean = grey.reduce((a, b) => a + b, 0) / grey.length;
        const out = preprocess(img);
        expect(out.reduce((a, b) => a + b, 0) / out.length).toBeCloseTo(mean, 4);
      }),
      { numRuns: 100 },
    );
  });
});

describe('inspectImage, for any bytes', () => {
  const magic = fc.constantFrom(
    [0xff, 0xd8, 0xff],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [0x52, 0x49, 0x46, 0x46, 1, 0, 0, 0, 0x57, 0x45, 0x42, 0x50],
    [],
  );
  it('either describes an allowed image within the limits or throws a BlankspotError with a 4xx status', () => {
    fc.assert(
      fc.property(magic, fc.uint8Array({ maxLength: 600 }), (head, tail) => {
        const bytes = Uint8Array.from([...head, ...tail]);
        try {
          const info = inspectImage(bytes);
          expect(['image/jpeg', 'image/png', 'image/webp']).toContain(info.type);
          expect(info.width).toBeGreaterThan(0);
          expect(info.width * info.height).toBeLessThanOrEqual(64_000_000);
        } catch (e) {
          expect(e).toBeInstanceOf(BlankspotError);
          expect((e as BlankspotError).status).toBeGreaterThanOrEqual(400);
          expect((e as BlankspotError).status).toBeLessThan(500);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never calls markup an image, and says it is markup, whatever space or text surrounds it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', '\ufeff'),
        fc.stringMatching(/^[ \t\r\n]{0,40}$/),
        fc.constantFrom('<svg', '<?xml', '<!DOCTYPE html', '<html', '<SVG'),
        fc.string(),
        (bom, space, tag, text) => {
          const bytes = new TextEncoder().encode(`${bom}${space}${tag}${text}`);
          expect(() => sniffImageType(bytes)).toThrow(/^SVG, HTML or XML is not an allowed image format/);
          try {
            sniffImageType(bytes);
          } catch (e) {
            expect((e as BlankspotError).code).toBe('UNSUPPORTED_MEDIA_TYPE');
          }
        },
      ),
    );
  });

  it('names other formats people upload by mistake, and never calls plain text one of them', () => {
    const named: Array<[string, Uint8Array]> = [
      ['PDF', latin1('%PDF-1.7 ...')],
      ['GIF', latin1('GIF89a...')],
      ['HEIC/HEIF', latin1('\0\0\0\x18ftypheic')],
      ['TIFF', latin1('II*\0....')],
      ['a ZIP archive', latin1('PK\x03\x04....')],
    ];
    for (const [name, bytes] of named)
      expect(() => sniffImageType(bytes), name).toThrow(`${name} is not an allowed image format`);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9 ]{1,60}$/), (text) => {
        expect(() => sniffImageType(latin1(text))).toThrow(/^this file is not an allowed image format/);
      }),
    );
  });
});

/** A minimal well-formed JPEG: SOI, a comment segment, SOF0, SOS, the given scan bytes, EOI, then `after`. */
function jpegWith(comment: Uint8Array, scan: Uint8Array, after: Uint8Array = new Uint8Array()): Uint8Array {
  const com = [0xff, 0xfe, (comment.length + 2) >> 8, (comment.length + 2) & 0xff, ...comment];
  const sof = [0xff, 0xc0, 0, 11, 8, 0, 64, 0, 64, 1, 1, 0x11, 0];
  const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0];
  return Uint8Array.from([0xff, 0xd8, ...com, ...sof, ...sos, ...scan, 0xff, 0xd9, ...after]);
}
const MARKUP = ['<script>', '<html>', '<svg onload=x>', '<?xml version="1.0"?>', '%PDF-1.7', 'PK\x03\x04', '<?php', '<iframe'];
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
// Entropy-coded data never holds a lone FF (it is stuffed as FF 00); these stand for it.
const scanBytes = fc.uint8Array({ minLength: 16, maxLength: 300 }).map((b) => b.map((v) => (v === 0xff ? 0xfe : v)));

describe('polyglots, for any content', () => {
  it('refuses markup or another format in a comment segment or after the image, wherever it sits', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MARKUP), fc.string(), scanBytes, fc.boolean(), (marker, text, scan, trailing) => {
        const foreign = latin1(`${text}${marker}${text}`);
        const bytes = trailing ? jpegWith(latin1('ok'), scan, foreign) : jpegWith(foreign, scan);
        expect(() => inspectImage(bytes)).toThrow(/something else too/);
      }),
    );
  });

  it('never refuses a photo whose compressed pixel data happens to hold those bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MARKUP), scanBytes, fc.nat(), (marker, scan, at) => {
        const bytes = Array.from(scan);
        bytes.splice(at % bytes.length, 0, ...latin1(marker));
        expect(inspectImage(jpegWith(latin1('made by a camera'), Uint8Array.from(bytes)))).toMatchObject({
          type: 'image/jpeg',
          width: 64,
          height: 64,
        });
      }),
    );
  });
});

describe('metadata parsers, for any bytes', () => {
  it('always finish and give an orientation from 1 to 8', () => {
    const headers = fc.constantFrom(
      [0xff, 0xd8],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      [0x52, 0x49, 0x46, 0x46, 0xff, 0xff, 0xff, 0xff, 0x57, 0x45, 0x42, 0x50],
    );
    const types = ['image/jpeg', 'image/png', 'image/webp'] as const;
    fc.assert(
      fc.property(headers, fc.uint8Array({ maxLength: 400 }), fc.constantFrom(...types), (head, tail, type) => {
        const bytes = Uint8Array.from([...head, ...tail]);
        const o = readExifOrientation(bytes, type);
        expect(o >= 1 && o <= 8).toBe(true);
        const frame = firstWebpFrame(bytes);
        if (frame) expect(frame.still.length).toBeGreaterThan(12);
      }),
      { numRuns: 3000 },
    );
  });
});
