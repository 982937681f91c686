/**
 * The HTTP contract of the API, run against the real Node server and the Worker in real workerd
 * (wrangler dev), both on loopback: every case is a real request, and both runtimes must answer
 * alike.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_MODELS_DIR, createNodeSession, sharpDecoder, startNodeServer } from '../src/node/index.js';
import { jpegClaiming, photoFiles, photoJpeg, pngClaiming, pngWithText, webpClaiming } from './fixtures.js';
import { startNode, startWorkerd, type Target } from './targets.js';
import type { EdgeConfig } from '../src/config.js';
import { LIMITS, anomalyScores, flipInputs, iou, modelInput, parseManifest, thresholdFor, type Box } from '@blankspot/core';
import { fuzz } from '../bench/fuzz-lib.js';
import { startBareWorkerd } from '../bench/servers.js';

const MODELS = REPO_MODELS_DIR;
const manifest = parseManifest(JSON.parse(await readFile(join(MODELS, 'manifest.json'), 'utf8')));
const defaultEntry = manifest.models.find((m) => m.name === manifest.default)!;
const LIMIT = 4 * 1024 * 1024;
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TEAPOT = fileURLToPath(new URL('../../data/cutouts/household_teapot.png', import.meta.url));

/**
 * A 1600x1200 product shot on white (a teapot), its spout end taken off by a white rectangle, as a JPEG
 * whose EXIF orientation is `orientation`: large enough to be read from its blocks through a content frame.
 */
async function largeProductShot(orientation: number): Promise<Buffer> {
  const teapot = await sharp(TEAPOT).resize(900, 700, { fit: 'inside' }).png().toBuffer();
  const white = await sharp({ create: { width: 260, height: 240, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  const shot = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#fff' } })
    .composite([
      { input: teapot, left: 350, top: 250 },
      { input: white, left: 380, top: 420 },
    ])
    .png()
    .toBuffer();
  return sharp(shot).jpeg({ quality: 92 }).withMetadata({ orientation }).toBuffer();
}
let jpeg: Buffer;
let png: Buffer;
let webp: Buffer;
const targets: Record<Target['name'], Target> = {} as Record<Target['name'], Target>;

beforeAll(async () => {
  const [photo] = await photoFiles('natural', 1);
  jpeg = await photoJpeg(photo);
  png = await sharp(photo).png().toBuffer();
  webp = await sharp(photo).webp().toBuffer();
  const [node, workerd] = await Promise.all([startNode({ maxBodyBytes: LIMIT }), startWorkerd({ maxBodyBytes: LIMIT })]);
  targets.node = node;
  targets.workerd = workerd;
}, 120_000);
afterAll(async () => {
  await Promise.all(Object.values(targets).map((t) => t.close()));
});

interface ErrorJson {
  error: { code: string; message: string; requestId: string };
}

type Body = unknown;

async function post(target: Target, body: Body, init: { query?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${target.url}/v1/check${init.query ?? ''}`, {
    method: 'POST',
    body: body as never,
    headers: init.headers,
    // Node's fetch needs this for streamed bodies.
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

const blob = (b: Buffer) => new Blob([new Uint8Array(b)]);

function multipart(field: string, value: Blob | string): FormData {
  const form = new FormData();
  form.append(field, value);
  return form;
}

for (const runtime of ['node', 'workerd'] as const) {
  const post1 = (body: Body, init?: { query?: string; headers?: Record<string, string> }) => post(targets[runtime], body, init);
  const base = () => targets[runtime].url;

  describe(`${runtime}: valid photos`, () => {
    it('answers the verdict, score, threshold, model, image and timings', async () => {
      const { status, json } = await post1(jpeg);
      expect(status).toBe(200);
      expect(json).toMatchObject({
        flagged: expect.any(Boolean),
        threshold: defaultEntry.threshold,
        box: null,
        image: { type: 'image/jpeg', width: 512, height: 512 },
      });
      expect(json.score).toBeGreaterThanOrEqual(0);
      expect(json.score).toBeLessThanOrEqual(1);
      expect(json.model).toMatchObject({ name: expect.any(String), version: expect.any(String) });
      expect(json.requestId).toMatch(/.+/);
      // The parts are each measured and add up to no more than the whole (each is rounded to 0.01 ms).
      const t = json.timings as Record<string, number>;
      expect(t.decodeMs).toBeGreaterThan(0);
      expect(t.inferenceMs).toBeGreaterThan(0);
      expect(t.preprocessMs).toBeGreaterThanOrEqual(0);
      expect(t.totalMs).toBeGreaterThanOrEqual(t.decodeMs + t.preprocessMs + t.inferenceMs - 0.03);
    });

    it('decides at the sensitivity asked for, with its threshold, and says which it used', async () => {
      const scores = new Set<number>();
      for (const sensitivity of ['high', 'balanced', 'low'] as const) {
        const { status, json } = await post1(jpeg, { query: `?sensitivity=${sensitivity}` });
        expect(status).toBe(200);
        expect(json.sensitivity).toBe(sensitivity);
        expect(json.threshold).toBe(thresholdFor(defaultEntry, sensitivity));
        expect(json.flagged).toBe((json.score as number) >= (json.threshold as number));
        scores.add(json.score as number);
      }
      expect(scores.size).toBe(1); // the sensitivity moves the threshold, never the score
      expect(thresholdFor(defaultEntry, 'high')).toBeLessThan(thresholdFor(defaultEntry, 'low'));
      expect((await post1(jpeg)).json.sensitivity).toBe('balanced');
      const bad = await post1(jpeg, { query: '?sensitivity=extreme' });
      expect(bad.status).toBe(400);
      expect((bad.json as unknown as ErrorJson).error.code).toBe('BAD_REQUEST');
    });

    it('takes raw bodies and multipart uploads, sniffing the type from the bytes', async () => {
      for (const [bytes, type] of [
        [jpeg, 'image/jpeg'],
        [png, 'image/png'],
        [webp, 'image/webp'],
      ] as const) {
        // A lying Content-Type does not matter.
        const raw = await post1(bytes, { headers: { 'content-type': 'text/plain' } });
        expect(raw.status).toBe(200);
        expect((raw.json.image as { type: string }).type).toBe(type);
        const form = await post1(multipart('image', blob(bytes)));
        expect(form.status).toBe(200);
        expect(form.json.score).toBeCloseTo(raw.json.score as number, 6);
      }
    });

    it('handles alpha, greyscale, 16-bit, CMYK, EXIF orientation and animation', async () => {
      const [photo] = await photoFiles('product', 1);
      const base = sharp(photo).resize(300, 200);
      const cases: Array<[string, Buffer, { width: number; height: number }]> = [
        ['RGBA PNG', await base.clone().ensureAlpha(0.5).png().toBuffer(), { width: 300, height: 200 }],
        ['greyscale PNG', await base.clone().greyscale().png().toBuffer(), { width: 300, height: 200 }],
        ['16-bit PNG', await base.clone().toColourspace('rgb16').png().toBuffer(), { width: 300, height: 200 }],
        ['CMYK JPEG', await base.clone().toColourspace('cmyk').jpeg().toBuffer(), { width: 300, height: 200 }],
        // Orientation 6: stored landscape, shown portrait.
        [
          'EXIF orientation 6',
          await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
          { width: 200, height: 300 },
        ],
        [
          'animated WebP',
          await sharp([await base.clone().png().toBuffer(), await base.clone().negate().png().toBuffer()], {
            join: { animated: true },
          })
            .webp()
            .toBuffer(),
          { width: 300, height: 200 },
        ],
      ];
      for (const [label, bytes, size] of cases) {
        const { status, json } = await post1(bytes);
        expect(status, label).toBe(200);
        expect(json.image, label).toMatchObject(size);
      }
    });

    it('flags photos with a pasted white rectangle and passes clean ones', async () => {
      const photos = await photoFiles('natural', 12);
      let right = 0;
      for (const [i, p] of photos.entries()) {
        const withRect = await post1(await photoJpeg(p, { fx: 0.1 + 0.05 * (i % 10), fy: 0.6 - 0.04 * (i % 10), frac: 0.28 }));
        const clean = await post1(await photoJpeg(p));
        if (withRect.json.flagged === true) right++;
        if (clean.json.flagged === false) right++;
        // The rectangle raises the photo's score, whatever the verdict.
        expect(withRect.json.score as number, p).toBeGreaterThan(clean.json.score as number);
      }
      expect(right / (2 * photos.length)).toBeGreaterThanOrEqual(0.9);
    });

    it("the default localiser answers where: a box in the photo's own pixels over the pasted rectangle", async () => {
      const photos = await photoFiles('natural', 10);
      const size = 512;
      let placed = 0;
      let flagged = 0;
      for (const [i, p] of photos.entries()) {
        const rect = { fx: 0.08 + 0.06 * (i % 10), fy: 0.62 - 0.05 * (i % 10), frac: 0.25 };
        const { status, json } = await post1(await photoJpeg(p, rect, size));
        expect(status).toBe(200);
        if (!json.flagged) {
          expect(json.box).toBeNull();
          continue;
        }
        flagged++;
        const box = json.box as { x: number; y: number; width: number; height: number };
        // Whole pixels, inside the photo.
        for (const v of Object.values(box)) expect(Number.isInteger(v)).toBe(true);
        expect(box.x + box.width).toBeLessThanOrEqual(size);
        expect(box.y + box.height).toBeLessThanOrEqual(size);
        const side = Math.round(size * rect.frac);
        const truth = { x: Math.round(rect.fx * size), y: Math.round(rect.fy * size), width: side, height: side };
        if (iou(box, truth) >= 0.7) placed++;
      }
      expect(flagged).toBeGreaterThanOrEqual(8);
      expect(placed / flagged).toBeGreaterThanOrEqual(0.8);
      // A clean photo: not flagged, so no box.
      const clean = await post1(await photoJpeg(photos[0]));
      expect(clean.json).toMatchObject({ flagged: false, box: null });
    });

    it('lists models from the manifest and chooses one by name', async () => {
      const res = await fetch(`${base()}/v1/models`);
      expect(res.status).toBe(200);
      const { models } = (await res.json()) as {
        models: Array<{ name: string; default: boolean; ready: boolean; sha256: string }>;
      };
      const manifest = JSON.parse(await readFile(join(MODELS, 'manifest.json'), 'utf8')) as {
        default: string;
        models: Array<{ name: string; sha256: string }>;
      };
      expect(models.map((m) => m.name)).toEqual(manifest.models.map((m) => m.name));
      expect(models.find((m) => m.default)?.name).toBe(manifest.default);
      expect(models.every((m) => m.ready)).toBe(true);
      for (const m of models) {
        const { status, json } = await post1(jpeg, { query: `?model=${m.name}` });
        expect(status).toBe(200);
        expect((json.model as { name: string }).name).toBe(m.name);
      }
    });

    it('reports health and serves the OpenAPI document and the demo page', async () => {
      const health = await fetch(`${base()}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', runtime });
      const doc = (await (await fetch(`${base()}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toBe('3.1.0');
      // The Node server's /metrics is documented where it is served.
      expect(Object.keys(doc.paths).sort()).toEqual(
        runtime === 'node' ? ['/healthz', '/metrics', '/v1/check', '/v1/models'] : ['/healthz', '/v1/check', '/v1/models'],
      );
      const page = await fetch(`${base()}/`);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('/v1/check');
    });
  });

  // The Node server's own line is tested where it is written to stdout: `npm start` in test/src/readme.test.ts.
  describe.runIf(runtime === 'workerd')(`${runtime}: request log`, () => {
    it('writes one JSON line per request: id, route, status, model, verdict, timings, size, never the image', async () => {
      const output = targets[runtime].output!;
      const id = `log-${runtime}-${Date.now()}`;
      const res = await fetch(`${base()}/v1/check`, {
        method: 'POST',
        body: new Uint8Array(jpeg),
        headers: { 'x-request-id': id },
      });
      expect(res.status).toBe(200);
      const bad = await fetch(`${base()}/v1/check`, {
        method: 'POST',
        body: 'not an image',
        headers: { 'x-request-id': `${id}-bad` },
      });
      expect(bad.status).toBe(415);
      const lineOf = async (rid: string) => {
        await expect.poll(() => output().includes(`"requestId":"${rid}"`), { timeout: 5000 }).toBe(true);
        const line = output()
          .split('\n')
          .find((l) => l.includes(`"requestId":"${rid}"`))!;
        return JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
      };
      const ok = await lineOf(id);
      expect(ok).toMatchObject({ method: 'POST', route: '/v1/check', status: 200, bytes: jpeg.length });
      expect(typeof ok.model).toBe('string');
      expect(typeof ok.flagged).toBe('boolean');
      expect(typeof ok.score).toBe('number');
      expect((ok.timings as { totalMs: number }).totalMs).toBeGreaterThan(0);
      expect(JSON.stringify(ok).length).toBeLessThan(1000);
      expect(await lineOf(`${id}-bad`)).toMatchObject({ status: 415, error: 'UNSUPPORTED_MEDIA_TYPE' });
    });
  });

  describe(`${runtime}: hostile and malformed input`, () => {
    type Case = [
      label: string,
      body: () => Promise<Body> | Body,
      status: number,
      code: string,
      init?: { query?: string; headers?: Record<string, string> },
    ];
    const text = (s: string) => Buffer.from(s);
    const table: Case[] = [
      ['empty body', () => Buffer.alloc(0), 400, 'BAD_REQUEST'],
      ['plain text', () => text('hello, this is not a photo'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'random bytes',
        () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['PDF', () => text('%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'SVG',
        () => text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'SVG with XML prolog and BOM',
        () => text('\ufeff<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['HTML', () => text('<!doctype html><html><script>alert(1)</script></html>'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'GIF',
        () =>
          sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
            .gif()
            .toBuffer(),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'HEIC',
        () => Buffer.concat([Buffer.from([0, 0, 0, 24]), text('ftypheic'), Buffer.alloc(64)]),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'AVIF',
        () => Buffer.concat([Buffer.from([0, 0, 0, 24]), text('ftypavif'), Buffer.alloc(64)]),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'TIFF',
        () =>
          sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
            .tiff()
            .toBuffer(),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['BMP header', () => Buffer.concat([text('BM'), Buffer.alloc(100)]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['ZIP', () => Buffer.concat([text('PK\x03\x04'), Buffer.alloc(100)]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [
        'JPEG + HTML polyglot',
        () => Buffer.concat([jpeg, text('<html><script>alert(1)</script></html>')]),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['JPEG + ZIP polyglot', () => Buffer.concat([jpeg, text('PK\x03\x04'), Buffer.alloc(64)]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['PNG with a script in a text chunk', () => pngWithText(png, '<script>alert(1)</script>'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['PNG + PDF polyglot', () => Buffer.concat([png, text('%PDF-1.4 trailer')]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['truncated JPEG (200 bytes)', () => jpeg.subarray(0, 200), 422, 'UNDECODABLE_IMAGE'],
      ['truncated JPEG (half)', () => jpeg.subarray(0, jpeg.length >> 1), 422, 'UNDECODABLE_IMAGE'],
      [
        'JPEG magic then garbage',
        () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(500, 0x41)]),
        422,
        'UNDECODABLE_IMAGE',
      ],
      ['truncated PNG (header only)', () => png.subarray(0, 30), 422, 'UNDECODABLE_IMAGE'],
      ['truncated PNG (half)', () => png.subarray(0, png.length >> 1), 422, 'UNDECODABLE_IMAGE'],
      [
        'PNG with corrupted data',
        () => {
          const b = Buffer.from(png);
          for (let i = 100; i < b.length - 20; i += 97) b[i] ^= 0xff;
          return b;
        },
        422,
        'UNDECODABLE_IMAGE',
      ],
      ['truncated WebP', () => webp.subarray(0, 40), 422, 'UNDECODABLE_IMAGE'],
      [
        'WebP with a bad frame header',
        () => {
          const b = Buffer.from(webp);
          b[23] = 0;
          return b;
        },
        422,
        'UNDECODABLE_IMAGE',
      ],
      ['PNG claiming 100000x100000 (bomb)', () => pngClaiming(100_000, 100_000), 422, 'IMAGE_TOO_LARGE'],
      ['PNG claiming 20000x1 (side too long)', () => pngClaiming(20_000, 1), 422, 'IMAGE_TOO_LARGE'],
      ['JPEG claiming 65000x65000', () => jpegClaiming(jpeg, 65_000, 65_000), 422, 'IMAGE_TOO_LARGE'],
      ['WebP claiming 16384x16384', () => webpClaiming(16_384, 16_384), 422, 'IMAGE_TOO_LARGE'],
      ['PNG claiming 0x0', () => pngClaiming(0, 0), 422, 'UNDECODABLE_IMAGE'],
      ['body over the limit', () => Buffer.alloc(5 * 1024 * 1024, 1), 413, 'PAYLOAD_TOO_LARGE'],
      [
        'chunked body over the limit, no length',
        () =>
          new ReadableStream({
            start(c) {
              for (let i = 0; i < 6; i++) c.enqueue(new Uint8Array(1024 * 1024));
              c.close();
            },
          }),
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      ['multipart without the image field', () => multipart('photo', blob(jpeg)), 400, 'BAD_REQUEST'],
      ['multipart image as text', () => multipart('image', 'not a file'), 400, 'BAD_REQUEST'],
      [
        'malformed multipart',
        () => text('--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc'),
        400,
        'BAD_REQUEST',
        { headers: { 'content-type': 'multipart/form-data; boundary=zzz' } },
      ],
      ['unknown model', () => jpeg, 400, 'BAD_REQUEST', { query: '?model=nope' }],
      ['model name with path characters', () => jpeg, 400, 'BAD_REQUEST', { query: '?model=..%2Fmanifest' }],
    ];

    it('checks a real JPEG whose compressed pixel data happens to hold ZIP and SVG signatures', async () => {
      // Entropy-coded data is effectively random: at catalogue scale any four bytes turn up in it.
      const b = Buffer.from(jpeg);
      const sos = b.indexOf(Buffer.from([0xff, 0xda]));
      const dataStart = sos + 2 + b.readUInt16BE(sos + 2);
      const plant = (at: number, what: string) => {
        while (b[at - 1] === 0xff) at++;
        b.write(what, at, 'latin1');
        return at;
      };
      const middle = dataStart + ((b.length - dataStart) >> 1);
      plant(middle, 'PK\x03\x04');
      plant(middle + 200, '<svg onload=x>');
      expect(b.subarray(dataStart).includes(Buffer.from('PK\x03\x04', 'latin1'))).toBe(true);
      const res = await post1(b);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(typeof res.json.flagged).toBe('boolean');
    });

    it('checks that JPEG with a stray byte after its first segment as well (libjpeg skips extraneous bytes before a marker)', async () => {
      const b = Buffer.from(jpeg);
      const sos = b.indexOf(Buffer.from([0xff, 0xda]));
      const dataStart = sos + 2 + b.readUInt16BE(sos + 2);
      let at = dataStart + ((b.length - dataStart) >> 1);
      while (b[at - 1] === 0xff) at++;
      b.write('PK\x03\x04', at, 'latin1');
      // The stray 0x00 goes right after the first segment (APP0 in a camera's file), where the next marker's 0xFF must be.
      expect(b[2]).toBe(0xff);
      const app0End = 4 + b.readUInt16BE(4);
      const stray = Buffer.concat([b.subarray(0, app0End), Buffer.from([0x00]), b.subarray(app0End)]);
      const res = await post1(stray);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(typeof res.json.flagged).toBe('boolean');
      // ...while markup hidden in those skipped bytes is still found.
      const hidden = Buffer.concat([b.subarray(0, app0End), Buffer.from('<script>', 'latin1'), b.subarray(app0End)]);
      const refused = await post1(hidden);
      expect(refused.status).toBe(415);
      expect((refused.json as unknown as ErrorJson).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    for (const [label, body, status, code, init] of table) {
      it(`${label}: ${status} ${code}`, async () => {
        const res = await post1(await body(), init);
        expect(res.status).toBe(status);
        const json = res.json as unknown as ErrorJson;
        expect(json.error.code).toBe(code);
        expect(json.error.message).toMatch(/\w/);
        expect(json.error.requestId).toMatch(/.+/);
        expect(JSON.stringify(json)).not.toMatch(/\bat .*\.(js|ts):\d+/); // no stack traces
      });
    }

    it('answers unknown routes with a JSON 404, and a known route asked with another method with a 405 and Allow', async () => {
      for (const [method, path] of [
        ['POST', '/v1/nothing'],
        ['GET', '/admin'],
      ]) {
        const res = await fetch(`${base()}${path}`, { method });
        expect(res.status).toBe(404);
        expect(((await res.json()) as ErrorJson).error.code).toBe('NOT_FOUND');
      }
      for (const [method, path, allow] of [
        ['GET', '/v1/check', 'POST'],
        ['PUT', '/v1/check', 'POST'],
        ['POST', '/v1/models', 'GET'],
        ['DELETE', '/healthz', 'GET'],
      ]) {
        const res = await fetch(`${base()}${path}`, { method });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.get('allow')).toBe(allow);
        const body = (await res.json()) as ErrorJson;
        expect(body.error.code).toBe('METHOD_NOT_ALLOWED');
        expect(body.error.message).toContain(allow);
      }
    });

    it('survives 400 mutated uploads (bit flips, truncations, header edits, huge sizes): only 200/4xx, all JSON', async () => {
      const seeds = [jpeg, png, webp].map((b) => new Uint8Array(b));
      const report = await fuzz(base(), seeds, 400, 8);
      expect(report.dropped).toBe(0);
      expect(report.malformed).toBe(0);
      for (const status of Object.keys(report.byStatus).map(Number))
        expect(status === 200 || (status >= 400 && status < 500), String(status)).toBe(true);
    });

    it('still serves valid photos after all of that', async () => {
      expect((await post1(jpeg)).status).toBe(200);
    });
  });
}

for (const runtime of ['node', 'workerd'] as const) {
  const start = (config: Partial<EdgeConfig>) => (runtime === 'node' ? startNode(config) : startWorkerd(config));

  describe(`${runtime}: limits and browsers`, () => {
    // In workerd a check's decode and model run never yield to another request of the same isolate (the
    // WASM work is synchronous), so the limiter never sees two at once and a burst is served in turn:
    // there the test is that a burst gets only 200s.
    it(runtime === 'node' ? 'answers 429 with Retry-After when saturated, and recovers' : 'serves a burst in turn', async () => {
      const t = await start({ maxConcurrent: 1, maxQueue: 1 });
      try {
        // A PNG is decoded in full on both runtimes: slow enough that twelve at once must queue.
        const big = await sharp({ create: { width: 2500, height: 2500, channels: 3, background: '#888' } })
          .png()
          .toBuffer();
        const results = await Promise.all(
          Array.from({ length: 12 }, () => fetch(`${t.url}/v1/check`, { method: 'POST', body: new Uint8Array(big) })),
        );
        const statuses = results.map((r) => r.status);
        expect(statuses).toContain(200);
        if (runtime === 'workerd') return expect(statuses.every((x) => x === 200)).toBe(true);
        expect(statuses).toContain(429);
        expect(statuses.every((x) => x === 200 || x === 429)).toBe(true);
        const limited = results.find((r) => r.status === 429)!;
        expect(limited.headers.get('retry-after')).toBe('1');
        expect(((await limited.json()) as ErrorJson).error.code).toBe('RATE_LIMITED');
        expect((await fetch(`${t.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) })).status).toBe(200);
      } finally {
        await t.close();
      }
    });

    it('refuses images over BLANKSPOT_MAX_PIXELS or BLANKSPOT_MAX_SIDE from the header, and takes those within', async () => {
      const t = await start({ maxPixels: 1_000_000, maxSide: 1500 });
      try {
        const at = (width: number, height: number) =>
          sharp({ create: { width, height, channels: 3, background: '#9a9a9a' } })
            .jpeg()
            .toBuffer();
        for (const [label, body, status] of [
          ['1200x1000: 1.2 megapixels', await at(1200, 1000), 422],
          ['1600x400: a side over 1500', await at(1600, 400), 422],
          ['900x900: within both', await at(900, 900), 200],
        ] as const) {
          const res = await fetch(`${t.url}/v1/check`, { method: 'POST', body: new Uint8Array(body) });
          expect(res.status, label).toBe(status);
          if (status === 422) {
            const { error } = (await res.json()) as ErrorJson;
            expect(error.code, label).toBe('IMAGE_TOO_LARGE');
            expect(error.message, label).toMatch(/1000000|1500/);
          }
        }
      } finally {
        await t.close();
      }
    });

    it('allows only configured origins for CORS, with preflights that need no key', async () => {
      const t = await start({ corsOrigins: ['https://shop.example'], apiKeys: ['k-shop'] });
      try {
        const origin = { origin: 'https://shop.example' };
        const pre = await fetch(`${t.url}/v1/check`, {
          method: 'OPTIONS',
          headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
        });
        expect(pre.status).toBe(204);
        expect(pre.headers.get('access-control-allow-origin')).toBe('https://shop.example');
        expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-api-key');
        const ok = await fetch(`${t.url}/v1/check`, {
          method: 'POST',
          body: new Uint8Array(jpeg),
          headers: { ...origin, 'x-api-key': 'k-shop' },
        });
        expect(ok.status).toBe(200);
        expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example');
        // A refused key is still readable by the page that sent it.
        const refused = await fetch(`${t.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg), headers: origin });
        expect(refused.status).toBe(401);
        expect(refused.headers.get('access-control-allow-origin')).toBe('https://shop.example');
        const no = await fetch(`${t.url}/v1/check`, {
          method: 'POST',
          body: new Uint8Array(jpeg),
          headers: { origin: 'https://evil.example', 'x-api-key': 'k-shop' },
        });
        expect(no.headers.get('access-control-allow-origin')).toBeNull();
      } finally {
        await t.close();
      }
    });
  });
}

/** A GET's headers and body as the server sent them: fetch (undici) would decode the body on its own. */
function asSent(url: string, acceptEncoding: string): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) =>
    httpGet(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject),
  );
}

describe('node: configuration', () => {
  it('requires one of the configured API keys, whole: near misses, prefixes and other cases are refused', async () => {
    const s = await startNodeServer({ port: 0, modelsDir: MODELS, config: { apiKeys: ['k-one', 'k-two'] } });
    try {
      const send = (headers: Record<string, string>) =>
        fetch(`${s.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg), headers });
      const none = await send({});
      expect(none.status).toBe(401);
      expect(((await none.json()) as ErrorJson).error.code).toBe('UNAUTHORIZED');
      for (const wrong of ['k-three', 'k-on', 'k-one-more', 'K-ONE', 'k-onf', '']) {
        expect((await send({ authorization: `Bearer ${wrong}` })).status, wrong).toBe(401);
        expect((await send({ 'x-api-key': wrong || ' ' })).status, wrong).toBe(401);
      }
      expect((await send({ authorization: 'Bearer k-two' })).status).toBe(200);
      expect((await send({ 'x-api-key': 'k-one' })).status).toBe(200);
      // Health stays open for load balancers.
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it("sends the widget's files precompressed (brotli, else gzip) and the manifest gzipped, to a client that accepts them", async () => {
    const s = await startNodeServer({ port: 0 });
    try {
      const wasm = `${s.url}/widget/ort/ort-wasm-simd-threaded.wasm`;
      const plain = await fetch(wasm, { headers: { 'accept-encoding': 'identity' } });
      const bytes = new Uint8Array(await plain.arrayBuffer());
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(plain.headers.get('content-type')).toBe('application/wasm');
      for (const [accept, encoding, decode] of [
        ['gzip, deflate, br', 'br', brotliDecompressSync],
        ['gzip', 'gzip', gunzipSync],
      ] as const) {
        const res = await asSent(wasm, accept);
        expect(res.headers['content-encoding'], accept).toBe(encoding);
        expect(res.headers['content-type'], accept).toBe('application/wasm');
        expect(res.body.length, accept).toBeLessThan(bytes.length / 3);
        // 14 MB: compared as buffers, not element by element.
        expect(Buffer.from(decode(res.body)).equals(Buffer.from(bytes)), accept).toBe(true);
      }
      const manifest = await asSent(`${s.url}/models/manifest.json`, 'gzip');
      expect(manifest.headers['content-encoding']).toBe('gzip');
      expect(JSON.parse(gunzipSync(manifest.body).toString('utf8')).default).toBeTruthy();
    } finally {
      await s.close();
    }
  });

  it('counts every request, verdict and model run in /metrics, each series with its labels', async () => {
    const s = await startNodeServer({ port: 0 });
    try {
      const send = (body: Buffer) => fetch(`${s.url}/v1/check`, { method: 'POST', body: new Uint8Array(body) });
      const clean = await (await send(jpeg)).json();
      const [photo] = await photoFiles('natural', 1);
      const damaged = (await (await send(await photoJpeg(photo, { fx: 0.3, fy: 0.3, frac: 0.3 }))).json()) as {
        flagged: boolean;
      };
      expect([(clean as { flagged: boolean }).flagged, damaged.flagged]).toEqual([false, true]);
      expect((await send(Buffer.from('not a photo'))).status).toBe(415);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const model = manifest.default;
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        expect(line, series).toBeDefined();
        return Number(line!.slice(series.length + 1));
      };
      expect(value(`blankspot_requests_total{route="/v1/check",status="200",code="",model="${model}"}`)).toBe(2);
      expect(
        value(`blankspot_requests_total{route="/v1/check",status="415",code="UNSUPPORTED_MEDIA_TYPE",model="${model}"}`),
      ).toBe(1);
      expect(value(`blankspot_verdicts_total{model="${model}",flagged="true"}`)).toBe(1);
      expect(value(`blankspot_verdicts_total{model="${model}",flagged="false"}`)).toBe(1);
      expect(value(`blankspot_inference_duration_seconds_count{model="${model}"}`)).toBe(2);
      expect(value(`blankspot_inference_duration_seconds_sum{model="${model}"}`)).toBeGreaterThan(0);
      expect(value(`blankspot_request_duration_seconds_count{route="/v1/check"}`)).toBe(3);
      expect(value('blankspot_checks_in_progress{state="running"}')).toBe(0);
      expect(value('blankspot_checks_in_progress{state="waiting"}')).toBe(0);
      expect(value(`blankspot_model_loaded{model="${model}",default="true"}`)).toBe(1);
      for (const m of manifest.models.filter((m) => m.name !== model))
        expect(text, m.name).toMatch(new RegExp(`blankspot_model_loaded\\{model="${m.name}",default="false"\\} [01]`));
    } finally {
      await s.close();
    }
  });

  it("decides with the manifest's own thresholds and the caller's sensitivity", async () => {
    // The clean photo's score under the shipped manifest (its default's closer look left out: the
    // thresholds below would lie under where it starts, which a manifest may not say), then a manifest
    // whose thresholds put that score on the flagged side at high and balanced sensitivity and the clean
    // side at low: a pipeline that used 0.5, or ignored the sensitivity, answers differently.
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-models-'));
    try {
      await cp(MODELS, dir, { recursive: true });
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
        default: string;
        models: Array<{ name: string; threshold: number; thresholds?: Record<string, number>; closerLook?: unknown }>;
      };
      const entry = manifest.models.find((m) => m.name === manifest.default)!;
      delete entry.closerLook;
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      const base = await startNodeServer({ port: 0, modelsDir: dir });
      let score: number;
      try {
        const res = await fetch(`${base.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) });
        score = ((await res.json()) as { score: number }).score;
      } finally {
        await base.close();
      }
      expect(score).toBeGreaterThan(1e-4);
      expect(score).toBeLessThan(0.5);
      const thresholds = { high: score / 4, balanced: score / 2, low: (score + 1) / 2 };
      entry.threshold = thresholds.balanced;
      entry.thresholds = thresholds;
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      const s = await startNodeServer({ port: 0, modelsDir: dir });
      try {
        for (const [sensitivity, flagged] of [
          [undefined, true],
          ['balanced', true],
          ['high', true],
          ['low', false],
        ] as const) {
          const res = await fetch(`${s.url}/v1/check${sensitivity ? `?sensitivity=${sensitivity}` : ''}`, {
            method: 'POST',
            body: new Uint8Array(jpeg),
          });
          const body = (await res.json()) as { flagged: boolean; threshold: number; score: number; sensitivity: string };
          expect(res.status).toBe(200);
          expect(body.score).toBeCloseTo(score, 6);
          expect(body.threshold).toBe(thresholds[sensitivity ?? 'balanced']);
          expect(body.sensitivity).toBe(sensitivity ?? 'balanced');
          expect(body.flagged, String(sensitivity)).toBe(flagged);
        }
        const bad = await fetch(`${s.url}/v1/check?sensitivity=extreme`, { method: 'POST', body: new Uint8Array(jpeg) });
        expect(bad.status).toBe(400);
        expect(((await bad.json()) as ErrorJson).error.code).toBe('BAD_REQUEST');
        const models = (await (await fetch(`${s.url}/v1/models`)).json()) as {
          models: Array<{ name: string; threshold: number; thresholds: Record<string, number> }>;
        };
        expect(models.models.find((m) => m.name === manifest.default)?.thresholds).toEqual(thresholds);
        const openapi = JSON.stringify(await (await fetch(`${s.url}/openapi.json`)).json());
        expect(openapi).toContain('"sensitivity"');
      } finally {
        await s.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("takes the closer look over HTTP where the manifest's closerLook says, and answers the higher look's score", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-models-'));
    try {
      await cp(MODELS, dir, { recursive: true });
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
        default: string;
        models: Array<
          Record<string, unknown> & { name: string; closerLook?: { inputSize: number; above: number; views?: string } }
        >;
      };
      const index = manifest.models.findIndex((m) => m.name === manifest.default);
      const shipped = manifest.models[index];
      expect(shipped.closerLook).toBeDefined();
      const closerLook = shipped.closerLook!;
      /** The answer for the photo under the default entry changed by `patch` (undefined values removed). */
      const answerWith = async (patch: Record<string, unknown>) => {
        manifest.models[index] = JSON.parse(JSON.stringify({ ...shipped, ...patch }));
        await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
        const s = await startNodeServer({ port: 0, modelsDir: dir });
        try {
          const res = await fetch(`${s.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) });
          expect(res.status).toBe(200);
          return (await res.json()) as { score: number; looks: number; flagged: boolean };
        } finally {
          await s.close();
        }
      };
      const never = { threshold: 0.9999999, thresholds: undefined, operatingPoint: undefined };
      // Each look alone: the first at the model's side, the closer one at the closer look's side on its views.
      const first = await answerWith({ ...never, closerLook: undefined });
      const near = await answerWith({
        ...never,
        closerLook: undefined,
        inputSize: closerLook.inputSize,
        views: closerLook.views ?? shipped.views,
      });
      // A closer look that starts below the first look's score: both looks, the higher score.
      const both = await answerWith({ ...never, closerLook: { ...closerLook, above: first.score / 2 } });
      expect([first.looks, near.looks, both.looks]).toEqual([1, 1, 2]);
      expect(Math.abs(first.score - near.score)).toBeGreaterThan(1e-6);
      expect(both.score).toBeCloseTo(Math.max(first.score, near.score), 6);
      // One that starts above it: one look, the first's score.
      const once = await answerWith({ ...never, closerLook: { ...closerLook, above: Math.min(0.999, first.score * 2) } });
      expect(once.looks).toBe(1);
      expect(once.score).toBeCloseTo(first.score, 6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a model on the views its manifest names (mirror, flips)', async () => {
    await expectMirrorViews((dir) => startNodeServer({ port: 0, modelsDir: dir }));
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-models-'));
    try {
      await cp(MODELS, dir, { recursive: true });
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
        default: string;
        models: Array<{ name: string; views?: string }>;
      };
      manifest.models.find((m) => m.name === manifest.default)!.views = 'sideways';
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      await expect(startNodeServer({ port: 0, modelsDir: dir, requireModels: true })).rejects.toThrow(/unknown views 'sideways'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers 503 and says why in /healthz when a model file is corrupt', async () => {
    const { dir, name } = await corruptModels();
    try {
      const s = await startNodeServer({ port: 0, modelsDir: dir });
      try {
        await expectModelUnavailable(s.url, name);
      } finally {
        await s.close();
      }
      await expect(startNodeServer({ port: 0, modelsDir: dir, requireModels: true })).rejects.toThrow(
        /models did not load: .*sha256/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('workerd: models', () => {
  it('runs a model on the views its manifest names (mirror, flips)', async () => {
    await expectMirrorViews((dir) => startBareWorkerd({ modelsDir: dir }));
  }, 120_000);

  it('answers 503 and says why in /healthz when a model file is corrupt', async () => {
    const { dir, name } = await corruptModels();
    // The deployed bundle with a models folder whose default model fails its sha256: /healthz never
    // turns ready, so wait for the socket only.
    const worker = await startBareWorkerd({ ready: 'socket', modelsDir: dir });
    try {
      await expectModelUnavailable(worker.url, name);
    } finally {
      await worker.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The default model served from a copy of models/ with `views` single, mirror, then flips: the answers'
 * scores against the plain ONNX session's views of the same input (the mean of their logits).
 */
async function expectMirrorViews(start: (dir: string) => Promise<{ url: string; close(): Promise<void> }>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'blankspot-models-'));
  try {
    await cp(MODELS, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      default: string;
      models: Array<{ name: string; file: string; framing?: 'full' | 'content'; views?: string }>;
    };
    const entry = manifest.models.find((m) => m.name === manifest.default)!;
    const answer = async (views: string) => {
      entry.views = views;
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      const s = await start(dir);
      try {
        const res = await fetch(`${s.url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) });
        expect(res.status).toBe(200);
        return (await res.json()) as { score: number };
      } finally {
        await s.close();
      }
    };
    const session = await createNodeSession(new Uint8Array(await readFile(join(dir, entry.file))));
    const { input } = await modelInput(new Uint8Array(jpeg), entry, sharpDecoder(LIMITS), LIMITS);
    // At the model's own input side (the manifest's inputSize).
    const side = Math.sqrt(input.length);
    const flips = [
      flipInputs(input, 1, true, false, side),
      flipInputs(input, 1, false, true, side),
      flipInputs(input, 1, true, true, side),
    ];
    const [plain, mirrored, down, turned] = anomalyScores(
      (await session.run(Float32Array.from([...input, ...flips.flatMap((f) => [...f])]), 4)).prob,
    );
    await session.release();
    const logit = (p: number) => Math.log(p / (1 - p));
    const mean = (ps: number[]) => 1 / (1 + Math.exp(-ps.reduce((z, p) => z + logit(p), 0) / ps.length));
    // The views see different things (on the logit's scale: a clean photo's scores all sit near 0).
    expect(Math.abs(logit(plain) - logit(mirrored))).toBeGreaterThan(1e-3);
    expect(Math.abs(logit(plain) - logit(down))).toBeGreaterThan(1e-3);
    expect((await answer('single')).score).toBeCloseTo(plain, 5);
    expect((await answer('mirror')).score).toBeCloseTo(mean([plain, mirrored]), 5);
    expect((await answer('flips')).score).toBeCloseTo(mean([plain, mirrored, down, turned]), 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A copy of models/ whose default model file has one byte changed (a bad deploy, a proxy rewriting bytes). */
async function corruptModels(): Promise<{ dir: string; name: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'blankspot-models-'));
  await cp(MODELS, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    default: string;
    models: Array<{ name: string; file: string }>;
  };
  const file = manifest.models.find((m) => m.name === manifest.default)!.file;
  const bytes = await readFile(join(dir, file));
  bytes[bytes.length >> 1] ^= 0xff;
  await writeFile(join(dir, file), bytes);
  return { dir, name: manifest.default };
}

async function expectModelUnavailable(url: string, name: string): Promise<void> {
  const health = await fetch(`${url}/healthz`);
  expect(health.status).toBe(503);
  const h = (await health.json()) as { status: string; models: Array<{ name: string; ready: boolean; error: string }> };
  expect(h.status).toBe('unavailable');
  expect(h.models.find((m) => m.name === name)?.error).toMatch(/sha256/);
  const res = await fetch(`${url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) });
  expect(res.status).toBe(503);
  expect(((await res.json()) as ErrorJson).error.code).toBe('MODEL_UNAVAILABLE');
}

describe('node and workerd agree', () => {
  it('gives the same JSON and scores within 1e-4 for real photos in every format, orientation and with alpha', async () => {
    const naturals = await photoFiles('natural', 8);
    const products = await photoFiles('product', 4);
    const bodies: Array<[string, Buffer]> = [];
    for (const [i, p] of naturals.entries()) {
      bodies.push([`jpeg ${i}`, await photoJpeg(p, i % 2 ? { fx: 0.3, fy: 0.2, frac: 0.25 } : undefined)]);
      bodies.push([`png ${i}`, await sharp(p).resize(320, 240).png().toBuffer()]);
    }
    for (const [i, p] of products.entries()) bodies.push([`webp ${i}`, await sharp(p).webp({ quality: 85 }).toBuffer()]);
    for (let o = 1; o <= 8; o++)
      bodies.push([
        `orientation ${o}`,
        await sharp(naturals[o % naturals.length])
          .resize(300, 200)
          .jpeg()
          .withMetadata({ orientation: o })
          .toBuffer(),
      ]);
    bodies.push(['alpha png', await sharp(products[0]).resize(200, 300).ensureAlpha(0.4).png().toBuffer()]);
    bodies.push(['alpha webp', await sharp(products[1]).ensureAlpha(0.6).webp({ lossless: true }).toBuffer()]);
    // Colour spaces, depths and JPEG codings each runtime reads its own way (sharp; jSquash and the core's reader).
    const product = sharp(products[2]).resize(900, 700);
    bodies.push(['CMYK JPEG', await product.clone().toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer()]);
    bodies.push(['16-bit PNG', await product.clone().toColourspace('rgb16').png().toBuffer()]);
    bodies.push(['greyscale PNG', await product.clone().greyscale().png().toBuffer()]);
    bodies.push(['progressive JPEG', await product.clone().jpeg({ quality: 85, progressive: true }).toBuffer()]);
    for (const name of ['restart-colour-650x531.jpg', 'baseline-422-700x560.jpg', 'progressive-restart-422-700x560.jpg'])
      bodies.push([name, await readFile(join(FIXTURES, name))]);
    // A large product shot on white, read from its JPEG blocks through the content frame, in every EXIF orientation.
    for (let o = 2; o <= 8; o++) bodies.push([`large product shot, orientation ${o}`, await largeProductShot(o)]);
    expect(bodies.length).toBeGreaterThanOrEqual(35);
    const looks: number[] = [];
    for (const [label, body] of bodies) {
      const [a, b] = await Promise.all([post(targets.node, body), post(targets.workerd, body)]);
      looks.push(a.json.looks as number);
      expect(a.status, label).toBe(200);
      expect(b.status, label).toBe(200);
      const strip = (j: Record<string, unknown>) => ({ ...j, score: undefined, timings: undefined, requestId: undefined });
      expect(strip(b.json), label).toEqual(strip(a.json));
      expect(Math.abs((a.json.score as number) - (b.json.score as number)), label).toBeLessThanOrEqual(1e-4);
    }
    // The set reaches the default's closer look on some photo (a product shot), so both runtimes are seen to
    // take it alike (`looks` is in the JSON compared above). A new default that changes this needs such a photo here.
    expect(looks).toContain(2);
    expect(looks).toContain(1);
  });

  it('runs every 128-input model by name alike, the pretrained stream of localiser-objects included (depthwise convs, Clip)', async () => {
    const manifest = JSON.parse(await readFile(join(MODELS, 'manifest.json'), 'utf8')) as {
      models: Array<{ name: string; inputSize?: number }>;
    };
    const names = manifest.models.filter((m) => m.inputSize === 128).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['localiser-128', 'localiser-objects']));
    const naturals = await photoFiles('natural', 2);
    const products = await photoFiles('product', 2);
    const bodies = [
      ...(await Promise.all(naturals.map((p) => photoJpeg(p)))),
      ...(await Promise.all(products.map((p) => sharp(p).png().toBuffer()))),
      await largeProductShot(1),
    ];
    for (const name of names) {
      const scores: number[] = [];
      for (const [i, body] of bodies.entries()) {
        const query = `?model=${name}`;
        const [a, b] = await Promise.all([post(targets.node, body, { query }), post(targets.workerd, body, { query })]);
        const label = `${name}, photo ${i}`;
        expect(a.status, label).toBe(200);
        expect((a.json.model as { name: string }).name, label).toBe(name);
        const strip = (j: Record<string, unknown>) => ({ ...j, score: undefined, timings: undefined, requestId: undefined });
        expect(strip(b.json), label).toEqual(strip(a.json));
        expect(Math.abs((a.json.score as number) - (b.json.score as number)), label).toBeLessThanOrEqual(1e-4);
        scores.push(a.json.score as number);
      }
      // Scores that differ from photo to photo: the comparison is of a model that sees something.
      expect(Math.max(...scores) - Math.min(...scores), name).toBeGreaterThan(0.01);
    }
  });

  it('turns a large product shot by its EXIF orientation (2-8) as a photo already turned: same verdict and box', async () => {
    for (let o = 2; o <= 8; o++) {
      const tagged = await largeProductShot(o);
      // The reference: the same pixels turned by libvips and saved without any orientation tag.
      const turned = await sharp(tagged).rotate().jpeg({ quality: 95 }).toBuffer();
      expect((await sharp(turned).metadata()).orientation ?? 1).toBe(1);
      const [a, ref] = await Promise.all([post(targets.node, tagged), post(targets.node, turned)]);
      const label = `orientation ${o}`;
      expect(a.status, label).toBe(200);
      expect(a.json.image, label).toEqual(ref.json.image);
      expect(a.json.flagged, label).toBe(ref.json.flagged);
      expect(Math.abs((a.json.score as number) - (ref.json.score as number)), label).toBeLessThan(0.02);
      const box = (j: Record<string, unknown>) => j.box as Box | null;
      if (ref.json.flagged) expect(iou(box(a.json)!, box(ref.json)!), label).toBeGreaterThan(0.9);
    }
    // The shot is damaged where a person sees it: the reference flags it, so the boxes above were compared.
    expect(
      (
        await post(
          targets.node,
          await sharp(await largeProductShot(6))
            .rotate()
            .jpeg()
            .toBuffer(),
        )
      ).json.flagged,
    ).toBe(true);
  });

  it('writes no request log on workerd with BLANKSPOT_LOG_REQUESTS=false', async () => {
    const worker = await startWorkerd({}, { BLANKSPOT_LOG_REQUESTS: 'false' });
    try {
      const res = await post(worker, jpeg);
      expect(res.status).toBe(200);
      const id = res.json.requestId as string;
      await new Promise((r) => setTimeout(r, 1500));
      expect(worker.output!()).not.toContain(`"requestId":"${id}"`);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('turns PNG and WebP by their EXIF orientation too, on both runtimes, as the photo already turned', async () => {
    const [photo] = await photoFiles('natural', 1);
    const base = await photoJpeg(photo, { fx: 0.55, fy: 0.15, frac: 0.3 }, 480);
    for (const format of ['png', 'webp'] as const)
      for (const o of [3, 6, 8]) {
        const encode = (s: sharp.Sharp) => (format === 'png' ? s.png() : s.webp({ lossless: true }));
        const tagged = await encode(sharp(base).resize(480, 320)).withMetadata({ orientation: o }).toBuffer();
        const turned = await encode(sharp(tagged).rotate()).toBuffer();
        const label = `${format}, orientation ${o}`;
        const [a, b, ref] = await Promise.all([
          post(targets.node, tagged),
          post(targets.workerd, tagged),
          post(targets.node, turned),
        ]);
        for (const r of [a, b, ref]) expect(r.status, label).toBe(200);
        const turnedSize = o >= 5 ? { width: 320, height: 480 } : { width: 480, height: 320 };
        expect(a.json.image, label).toMatchObject(turnedSize);
        expect(b.json.image, label).toMatchObject(turnedSize);
        expect(a.json.flagged, label).toBe(ref.json.flagged);
        expect(Math.abs((a.json.score as number) - (ref.json.score as number)), label).toBeLessThan(1e-4);
        expect(Math.abs((a.json.score as number) - (b.json.score as number)), label).toBeLessThan(1e-4);
        expect(b.json.box, label).toEqual(a.json.box);
        expect(a.json.box, label).toEqual(ref.json.box);
      }
  });

  it('needs the API key on workerd too when keys are configured', async () => {
    const worker = await startWorkerd({ apiKeys: ['w-key'] });
    try {
      expect((await post(worker, jpeg)).status).toBe(401);
      expect((await post(worker, jpeg, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      expect((await post(worker, jpeg, { headers: { authorization: 'Bearer w-key' } })).status).toBe(200);
    } finally {
      await worker.close();
    }
  }, 120_000);
});
