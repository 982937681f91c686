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

/** A minimal PNG: signature, IHDR (64x64 RGB), the given chunks (type, data), IEND; CRCs are not checked here. */
function pngWith(chunks: Array<[string, Uint8Array]>, after: Uint8Array = new Uint8Array()): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const n = data.length;
    return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...latin1(type), ...data, 0, 0, 0, 0];
  };
  const ihdr = Uint8Array.from([0, 0, 0, 64, 0, 0, 0, 64, 8, 2, 0, 0, 0]);
  const body = [...chunk('IHDR', ihdr), ...chunks.flatMap(([t, d]) => chunk(t, d)), ...chunk('IEND', new Uint8Array())];
  return Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...body, ...after]);
}

/** A minimal lossless WebP (VP8L, 64x64) whose pixel chunk holds `data`, then the given chunks. */
function webpWith(data: Uint8Array, chunks: Array<[string, Uint8Array]> = []): Uint8Array {
  const chunk = (type: string, d: Uint8Array) => {
    const padded = d.length % 2 ? [...d, 0] : [...d];
    return [...latin1(type), d.length & 255, (d.length >>> 8) & 255, (d.length >>> 16) & 255, d.length >>> 24, ...padded];
  };
  // VP8L header: signature 0x2f, then 14-bit width-1 and height-1 (63 each), alpha 0, version 0.
  const vp8l = Uint8Array.from([0x2f, 0x3f, 0xc0, 0x0f, 0x00, ...data]);
  const body = [...latin1('WEBP'), ...chunk('VP8L', vp8l), ...chunks.flatMap(([t, d]) => chunk(t, d))];
  const n = body.length;
  return Uint8Array.from([...latin1('RIFF'), n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24, ...body]);
}

describe('polyglots in PNG and WebP, and JPEGs off the beaten path', () => {
  const anyBytes = fc.uint8Array({ minLength: 16, maxLength: 300 });
  const planted = (data: Uint8Array, marker: string, at: number) => {
    const bytes = Array.from(data);
    bytes.splice(at % bytes.length, 0, ...latin1(marker));
    return Uint8Array.from(bytes);
  };

  it('never refuses a PNG or WebP whose compressed pixels hold those bytes; refuses them in a text chunk or after the end', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MARKUP), anyBytes, fc.nat(), (marker, data, at) => {
        const pixels = planted(data, marker, at);
        expect(inspectImage(pngWith([['IDAT', pixels]]))).toMatchObject({ type: 'image/png', width: 64, height: 64 });
        expect(inspectImage(webpWith(pixels))).toMatchObject({ type: 'image/webp', width: 64, height: 64 });
        expect(() =>
          inspectImage(
            pngWith([
              ['IDAT', data],
              ['tEXt', latin1(`Comment\0${marker}`)],
            ]),
          ),
        ).toThrow(/something else too/);
        expect(() => inspectImage(pngWith([['IDAT', data]], latin1(marker)))).toThrow(/something else too/);
        expect(() => inspectImage(webpWith(data, [['XMP ', latin1(marker)]]))).toThrow(/something else too/);
      }),
    );
  });

  it('reads past restart markers and stray bytes before a marker, still finding what hides in comments', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MARKUP), scanBytes, fc.nat(), fc.integer({ min: 1, max: 8 }), (marker, scan, at, strays) => {
        // Restart markers (FF D0-D7) inside the scan, as cameras write them, and the marker's bytes by chance.
        const withRestarts = Array.from(scan);
        withRestarts.splice(at % withRestarts.length, 0, 0xff, 0xd0 + (at % 8), ...latin1(marker));
        const jpeg = jpegWith(latin1('ok'), Uint8Array.from(withRestarts));
        expect(inspectImage(jpeg)).toMatchObject({ type: 'image/jpeg', width: 64, height: 64 });
        // Stray bytes after the comment segment (libjpeg skips them): still an image, and markup in them is found.
        const comEnd = 2 + 4 + 2; // SOI, the comment's marker and length, 'ok'
        const stray = (bytes: Uint8Array) => Uint8Array.from([...jpeg.subarray(0, comEnd), ...bytes, ...jpeg.subarray(comEnd)]);
        expect(inspectImage(stray(new Uint8Array(strays)))).toMatchObject({ type: 'image/jpeg' });
        expect(() => inspectImage(stray(latin1(marker.replace(/\xff/g, ''))))).toThrow(/something else too/);
      }),
    );
  });

  it("falls back to the file's head and tail when its structure cannot be walked, and still finds markup there", () => {
    // After the scan, a segment whose length runs past the file: the walk breaks there, so the head (and the
    // tail) are scanned whole, the scan data included.
    const broken = (comment: string, inScan = '') =>
      jpegWith(latin1(comment), Uint8Array.from([1, 2, 3, ...latin1(inScan), 0xff, 0xe1, 0xff, 0xff, 4, 5]));
    expect(inspectImage(broken('made by a camera'))).toMatchObject({ type: 'image/jpeg', width: 64, height: 64 });
    expect(() => inspectImage(broken('<script>'))).toThrow(/something else too/);
    expect(() => inspectImage(broken('made by a camera', '<iframe'))).toThrow(/something else too/);
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
