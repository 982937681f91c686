/**
 * The widget in real headless Chromium (Debian's), on the demo page served by the real Node server,
 * next to the API it must agree with.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockMeansCover, inspectImage, jpegToInput, preprocessFramed, readExifOrientation, type Framing } from '@blankspot/core';
import { startNodeServer, type NodeServer } from '@blankspot/edge/node';
import { launchChromium } from './browser.js';

const PHOTOS = fileURLToPath(new URL('../../data/photos/', import.meta.url));
const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
let server: NodeServer;
let browser: Browser;
let page: Page;

const natural = (name: string) => join(PHOTOS, 'natural', name);
/**
 * The longest the page may stop answering while the widget checks a photo. Half a second is where a
 * frozen page becomes noticeable; a 12 MP JPEG (block reader on the main thread, model run) stays well
 * under it here even with the other core busy.
 */
const GAP_LIMIT_MS = 500;
const NATURAL = [
  'gcompris__explore_monuments_resource_wonders_colosseum.png',
  'gcompris__explore_world_animals_resource_animals_giraffe.png',
  'gcompris__explore_world_animals_resource_animals_koala.png',
  'gcompris__explore_monuments_resource_wonders_machuPicchu.png',
  'gcompris__explore_world_animals_resource_animals_panda.png',
  'gcompris__erase_resource_kingfisher.png',
  'tuxpaint__templates_burnt_bark.png',
  'gcompris__categorization_resource_images_monuments_parthenon.png',
].map(natural);
const PRODUCT = join(PHOTOS, 'product', 'gcompris__categorization_resource_images_tools_wrench.png');
const CUTOUT = fileURLToPath(new URL('../../data/cutouts/animal_seagull.png', import.meta.url));
const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

async function withRect(path: string, size = 600): Promise<Buffer> {
  const w = Math.round(size * 0.27);
  const white = await sharp({ create: { width: w, height: w, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  const base = await sharp(path).resize(size, size).png().toBuffer();
  return sharp(base)
    .composite([{ input: white, left: Math.round(size * 0.5), top: Math.round(size * 0.3) }])
    .jpeg({ quality: 92 })
    .toBuffer();
}

async function api(bytes: Buffer, model?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1/check${model ? `?model=${model}` : ''}`, {
    method: 'POST',
    body: new Uint8Array(bytes),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** What the API feeds its model, under the model's framing: a large JPEG's block means, else sharp-decoded (EXIF applied) RGBA through the core. */
async function apiInput(bytes: Buffer, framing: Framing = 'full', size = 64): Promise<Float32Array> {
  // Large JPEGs: read from their block means (the core's reader, which the API runs too).
  const header = inspectImage(new Uint8Array(bytes));
  const fromBlocks =
    header.type === 'image/jpeg' && blockMeansCover(header, size)
      ? jpegToInput(new Uint8Array(bytes), readExifOrientation(new Uint8Array(bytes), header.type), framing, size)
      : null;
  if (fromBlocks) return fromBlocks.input;
  const { data, info } = await sharp(bytes)
    .rotate()
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return preprocessFramed(
    { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) },
    framing,
    size,
  ).input;
}

interface BrowserResult {
  flagged: boolean;
  box: { x: number; y: number; width: number; height: number } | null;
  score: number;
  looks: number;
  model: { name: string };
  image: { width: number; height: number; type: string };
  input: number[];
  backend: string;
  preprocessedOn: 'gpu' | 'cpu';
}

function browserCheck(p: Page, bytes: Buffer, preprocessOn: 'gpu' | 'cpu' = 'gpu', model?: string): Promise<BrowserResult> {
  return p.evaluate(
    async ([b64, on, name]) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const api = (
        window as unknown as {
          blankspot: { check(b: Blob, o: object): Promise<Record<string, unknown> & { input: Float32Array }> };
        }
      ).blankspot;
      const r = await api.check(new Blob([bin]), { modelsUrl: '/models/', returnInput: true, preprocessOn: on, model: name });
      return { ...r, input: Array.from(r.input) } as unknown as BrowserResult;
    },
    [bytes.toString('base64'), preprocessOn, model] as const,
  );
}

/** The widget's next outcome on the page: 'RESULT', or the code of its blankspot-error. */
function nextOutcome(p: Page): Promise<string> {
  return p.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const finish = (e: Event) => {
          document.removeEventListener('blankspot-error', finish);
          document.removeEventListener('blankspot-result', finish);
          resolve(e.type === 'blankspot-error' ? (e as CustomEvent).detail.code : 'RESULT');
        };
        document.addEventListener('blankspot-error', finish);
        document.addEventListener('blankspot-result', finish);
      }),
  );
}

async function defaultLocalises(): Promise<boolean> {
  const { models } = (await (await fetch(`${server.url}/v1/models`)).json()) as {
    models: Array<{ default: boolean; localises: boolean }>;
  };
  return models.find((m) => m.default)!.localises;
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  server = await startNodeServer({ port: 0 });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => customElements.get('blankspot-check') != null);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the widget on an upload form', () => {
  it('shows the verdict and thumbnail for a photo with a pasted rectangle and for a clean one', async () => {
    const damaged = await withRect(NATURAL[0]);
    const clean = await sharp(NATURAL[0]).resize(600, 600).jpeg({ quality: 92 }).toBuffer();
    const expected = [(await api(damaged)).json.flagged, (await api(clean)).json.flagged];
    expect(expected).toEqual([true, false]);
    for (const [name, bytes, flagged] of [
      ['damaged.jpg', damaged, true],
      ['clean.jpg', clean, false],
    ] as const) {
      const events = page.evaluate(
        () =>
          new Promise<[boolean, string | null, string | null]>((resolve) => {
            // The thumbnail while the photo is checked (the browser decoding it would compete with the check) and with the verdict.
            const thumbSrc = () =>
              document.querySelector('blankspot-check')!.shadowRoot!.querySelector('img')!.getAttribute('src');
            let whileChecking: string | null = 'not seen';
            document.addEventListener('change', () => (whileChecking = thumbSrc()), { once: true });
            document.addEventListener(
              'blankspot-result',
              (e) => resolve([(e as CustomEvent).detail.result.flagged, whileChecking, thumbSrc()]),
              { once: true },
            );
          }),
      );
      await page.setInputFiles('#image', { name, mimeType: 'image/jpeg', buffer: bytes });
      const [verdict, thumbWhileChecking, thumbWithVerdict] = await events;
      expect(verdict).toBe(flagged);
      expect(thumbWhileChecking).toBeNull();
      expect(thumbWithVerdict).toMatch(/^blob:/);
      const status = page.locator('blankspot-check').locator('[role=status]');
      await expect.poll(() => status.textContent()).toMatch(flagged ? /white rectangle was found/ : /No white rectangle/);
      const thumb = page.locator('blankspot-check').locator('img');
      await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(600);
      // A flagged photo holds the upload until the seller confirms.
      const valid = await page.locator('#image').evaluate((el: HTMLInputElement) => el.validity.valid);
      expect(valid).toBe(!flagged);
      // The default model localises: the box is drawn over the pasted square (at 50%, 30%, 27% of the side).
      const box = page.locator('blankspot-check').locator('.box');
      if (flagged && (await defaultLocalises())) {
        await expect.poll(() => box.isVisible()).toBe(true);
        const [img, drawn] = await Promise.all([thumb.boundingBox(), box.boundingBox()]);
        const rel = (v: number, o: number, size: number) => (v - o) / size;
        expect(rel(drawn!.x, img!.x, img!.width)).toBeCloseTo(0.5, 1);
        expect(rel(drawn!.y, img!.y, img!.height)).toBeCloseTo(0.3, 1);
        expect(drawn!.width / img!.width).toBeCloseTo(0.27, 1);
      } else {
        expect(await box.isVisible()).toBe(false);
      }
      await page.screenshot({ path: join(SHOTS, `widget-${name.replace('.jpg', '')}.png`) });
      if (flagged) {
        // mode="confirm": the seller may upload anyway.
        await page.locator('blankspot-check').locator('button').click();
        expect(await page.locator('#image').evaluate((el: HTMLInputElement) => el.validity.valid)).toBe(true);
      }
    }
  });

  it('decides at the sensitivity the page asks for, with the thresholds the API uses', async () => {
    const bytes = await withRect(NATURAL[1]);
    const thresholds: number[] = [];
    try {
      for (const sensitivity of ['high', 'low'] as const) {
        const res = await fetch(`${server.url}/v1/check?sensitivity=${sensitivity}`, {
          method: 'POST',
          body: new Uint8Array(bytes),
        });
        const expected = (await res.json()) as { threshold: number; flagged: boolean; score: number };
        await page.locator('blankspot-check').evaluate((el, s) => el.setAttribute('sensitivity', s), sensitivity);
        const result = page.evaluate(
          () =>
            new Promise<{ threshold: number; flagged: boolean; score: number }>((resolve) =>
              document.addEventListener('blankspot-result', (e) => resolve((e as CustomEvent).detail.result), { once: true }),
            ),
        );
        await page.setInputFiles('#image', { name: `sensitivity-${sensitivity}.jpg`, mimeType: 'image/jpeg', buffer: bytes });
        const got = await result;
        expect(got.threshold).toBe(expected.threshold);
        expect(got.flagged).toBe(expected.flagged);
        expect(got.score).toBeCloseTo(expected.score, 4);
        thresholds.push(got.threshold);
      }
    } finally {
      await page.locator('blankspot-check').evaluate((el) => el.removeAttribute('sensitivity'));
    }
    // The shipped default has a threshold per sensitivity: high flags at a lower score than low.
    expect(thresholds[0]).toBeLessThan(thresholds[1]);
  });

  it('in block mode keeps a flagged photo out of the form; in warn mode only shows the verdict', async () => {
    const damaged = await withRect(NATURAL[0]);
    const widget = page.locator('blankspot-check');
    try {
      for (const [mode, submittable] of [
        ['block', false],
        ['warn', true],
      ] as const) {
        await widget.evaluate((el, m) => el.setAttribute('mode', m), mode);
        const result = page.evaluate(
          () =>
            new Promise<boolean>((resolve) =>
              document.addEventListener('blankspot-result', (e) => resolve((e as CustomEvent).detail.result.flagged), {
                once: true,
              }),
            ),
        );
        await page.setInputFiles('#image', { name: `${mode}.jpg`, mimeType: 'image/jpeg', buffer: damaged });
        expect(await result, mode).toBe(true);
        expect(await page.locator('#image').evaluate((el: HTMLInputElement) => el.validity.valid), mode).toBe(submittable);
        // Only confirm mode offers to upload anyway.
        expect(await widget.locator('button').isVisible(), mode).toBe(false);
      }
    } finally {
      await widget.evaluate((el) => el.setAttribute('mode', 'confirm'));
    }
  });

  it('says why when its model cannot be loaded, and checks again once it can', async () => {
    const manifestText = await (await fetch(`${server.url}/models/manifest.json`)).text();
    const manifest = JSON.parse(manifestText) as { default: string; models: Array<{ name: string; file: string }> };
    const file = manifest.models.find((m) => m.name === manifest.default)!.file;
    const corrupt = Buffer.from(await (await fetch(`${server.url}/models/${file}`)).arrayBuffer());
    corrupt[corrupt.length >> 1] ^= 0xff;
    // A models folder whose file no longer matches its manifest (a bad deploy, a proxy rewriting bytes).
    await page.route('**/broken-models/**', (route) =>
      new URL(route.request().url()).pathname.endsWith('manifest.json')
        ? route.fulfill({ body: manifestText, contentType: 'application/json' })
        : route.fulfill({ body: corrupt, contentType: 'application/octet-stream' }),
    );
    // A models folder whose manifest names a file it does not have.
    await page.route('**/missing-file-models/**', (route) =>
      new URL(route.request().url()).pathname.endsWith('manifest.json')
        ? route.fulfill({ body: manifestText, contentType: 'application/json' })
        : route.fulfill({ status: 404, body: 'not found' }),
    );
    // A models folder the network cannot reach at all.
    await page.route('**/offline-models/**', (route) => route.abort('internetdisconnected'));
    const widget = page.locator('blankspot-check');
    const status = widget.locator('[role=status]');
    const photo = await sharp(NATURAL[3]).resize(600, 600).jpeg().toBuffer();
    const outcome = () => nextOutcome(page);
    try {
      for (const [models, code, message] of [
        ['/nowhere/', 'MODEL_UNAVAILABLE', /no models: no manifest\.json in http:\/\/127\.0\.0\.1:\d+\/nowhere\//],
        [
          '/missing-file-models/',
          'BAD_MODEL_FILE',
          /model file \S+\.onnx is missing from http:\/\/127\.0\.0\.1:\d+\/missing-file-models\//,
        ],
        ['/broken-models/', 'BAD_MODEL_FILE', /sha256/],
        ['/offline-models/', 'MODEL_UNAVAILABLE', /cannot reach/],
      ] as const) {
        await widget.evaluate((el, m) => el.setAttribute('models', m), models);
        const got = outcome();
        await page.setInputFiles('#image', { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: photo });
        expect(await got, models).toBe(code);
        await expect.poll(() => status.textContent()).toMatch(message);
      }
    } finally {
      await widget.evaluate((el) => el.setAttribute('models', '/models/'));
      await page.unroute('**/broken-models/**');
      await page.unroute('**/offline-models/**');
      await page.unroute('**/missing-file-models/**');
    }
    const again = outcome();
    await page.setInputFiles('#image', { name: 'again.jpg', mimeType: 'image/jpeg', buffer: photo });
    expect(await again).toBe('RESULT');
  });

  it('agrees with the API on 20+ real photos: JPEG, PNG, WebP, EXIF orientations 1-8, alpha', async () => {
    const bodies: Array<[string, Buffer]> = [];
    for (const [i, p] of NATURAL.entries()) {
      bodies.push([
        `jpeg ${i}`,
        i % 2 ? await withRect(p, 480) : await sharp(p).resize(480, 360).jpeg({ quality: 90 }).toBuffer(),
      ]);
      bodies.push([`png ${i}`, await sharp(p).png().toBuffer()]);
    }
    bodies.push(['webp', await sharp(PRODUCT).webp({ quality: 90 }).toBuffer()]);
    bodies.push(['webp lossless', await sharp(NATURAL[1]).webp({ lossless: true }).toBuffer()]);
    for (let o = 1; o <= 8; o++)
      bodies.push([
        `orientation ${o}`,
        await sharp(NATURAL[o % 8])
          .resize(320, 200)
          .jpeg({ quality: 95 })
          .withMetadata({ orientation: o })
          .toBuffer(),
      ]);
    bodies.push(['alpha png', await sharp(PRODUCT).resize(300, 220).ensureAlpha(0.5).png().toBuffer()]);
    // Products on pure white, which a framing model sees framed: a small PNG and a JPEG read from its blocks.
    for (const [side, format] of [
      [700, 'png'],
      [1400, 'jpeg'],
    ] as const) {
      const cutout = await sharp(CUTOUT)
        .resize(Math.round(side * 0.35), Math.round(side * 0.35), { fit: 'inside' })
        .toBuffer();
      const canvas = sharp({ create: { width: side, height: side, channels: 3, background: '#ffffff' } }).composite([
        { input: cutout, gravity: 'centre' },
      ]);
      bodies.push([
        `product on white ${format}`,
        await (format === 'png' ? canvas.png() : canvas.jpeg({ quality: 92 })).toBuffer(),
      ]);
    }
    expect(bodies.length).toBeGreaterThanOrEqual(20);
    // The default model frames products on white; localiser-wide takes every photo whole, which the
    // GPU shader can make. Both run through the same pipeline as the API.
    const manifest = JSON.parse(await readFile(join(MODELS_DIR, 'manifest.json'), 'utf8')) as {
      default: string;
      models: { name: string; framing?: Framing; inputSize?: number }[];
    };
    const framed = manifest.models.find((m) => m.name === manifest.default)!;
    expect(framed.framing).toBe('content');
    for (const [label, bytes, model, framing, size] of bodies.flatMap(([l, b]) => [
      [l, b, undefined, 'content', framed.inputSize ?? 64] as const,
      [`${l} (localiser-wide)`, b, 'localiser-wide', 'full', 64] as const,
    ])) {
      const [server, input] = await Promise.all([api(bytes, model), apiInput(bytes, framing, size)]);
      expect(input.length, label).toBe(size * size);
      expect(server.status, label).toBe(200);
      // Both ways the browser makes the input: the GPU shader (for a model that takes the whole photo) and the core on read-back pixels.
      const onCpu = await browserCheck(page, bytes, 'cpu', model);
      const local = await browserCheck(page, bytes, 'gpu', model);
      expect(onCpu.preprocessedOn, label).toBe('cpu');
      // A large JPEG is read from its block means, in the browser as in the API.
      const blocks = label.startsWith('product on white jpeg');
      expect(local.preprocessedOn, label).toBe(framing === 'full' && !blocks ? 'gpu' : 'cpu');
      for (const r of [local, onCpu]) {
        expect(r.flagged, label).toBe(server.json.flagged);
        expect(r.image, label).toEqual(server.json.image);
        expect(r.looks, label).toBe(server.json.looks);
        let worst = 0;
        for (let i = 0; i < input.length; i++) worst = Math.max(worst, Math.abs(r.input[i] - input[i]));
        expect(worst * 255, `${label} (${r.preprocessedOn})`).toBeLessThanOrEqual(2);
        expect(Math.abs(r.score - (server.json.score as number)), label).toBeLessThanOrEqual(1e-3);
      }
      // The shader and the core agree far more closely than the 2/255 decoders may differ by.
      let gap = 0;
      for (let i = 0; i < input.length; i++) gap = Math.max(gap, Math.abs(local.input[i] - onCpu.input[i]));
      expect(gap, label).toBeLessThanOrEqual(1e-4);
      // The same box, give or take rounding, when the model localises.
      const serverBox = server.json.box as BrowserResult['box'];
      expect(local.box == null, label).toBe(serverBox == null);
      if (local.box && serverBox) {
        const side = Math.max(local.image.width, local.image.height);
        for (const k of ['x', 'y', 'width', 'height'] as const) {
          expect(Math.abs(local.box[k] - serverBox[k]), `${label} box ${k}`).toBeLessThanOrEqual(0.02 * side);
        }
      }
    }
  });

  it('explains bad files, and the page keeps answering while it checks', async () => {
    const huge = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      Buffer.from('IHDR'),
      Buffer.from([0x00, 0x01, 0x86, 0xa0, 0x00, 0x01, 0x86, 0xa0, 8, 2, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    const jpeg = await sharp(NATURAL[2]).jpeg().toBuffer();
    const large = await sharp(NATURAL[2]).resize(4000, 3000).jpeg({ quality: 90 }).toBuffer();
    const cases: Array<[string, string, Buffer, RegExp]> = [
      ['notes.txt', 'text/plain', Buffer.from('not a photo at all'), /not an allowed image format/],
      ['broken.jpg', 'image/jpeg', jpeg.subarray(0, jpeg.length >> 1), /truncated or damaged/],
      ['bomb.png', 'image/png', huge, /limit/],
      ['large.jpg', 'image/jpeg', large, /white rectangle/],
    ];
    for (const [name, mimeType, buffer, message] of cases) {
      const done = nextOutcome(page);
      // A 10 ms timer runs while the widget works: the longest gap between its ticks is how long the
      // page could not answer a click, measured during the check, not after it.
      await page.evaluate(() => {
        const w = window as unknown as { longestGap: number; ticker: number };
        let last = performance.now();
        w.longestGap = 0;
        w.ticker = window.setInterval(() => {
          const now = performance.now();
          w.longestGap = Math.max(w.longestGap, now - last);
          last = now;
        }, 10);
      });
      await page.setInputFiles('#image', { name, mimeType, buffer });
      expect(await done, name).toMatch(
        name === 'large.jpg' ? /RESULT/ : /UNSUPPORTED_MEDIA_TYPE|UNDECODABLE_IMAGE|IMAGE_TOO_LARGE/,
      );
      const status = page.locator('blankspot-check').locator('[role=status]');
      await expect.poll(() => status.textContent()).toMatch(message);
      const gap = await page.evaluate(() => {
        const w = window as unknown as { longestGap: number; ticker: number };
        clearInterval(w.ticker);
        return w.longestGap;
      });
      expect(gap, name).toBeLessThan(GAP_LIMIT_MS);
    }
  });
});

describe('honest files with quirks', () => {
  it('checks a JPEG with a stray byte after its first segment and PK\\x03\\x04 in its scan, as the API does', async () => {
    const b = await sharp(PRODUCT).resize(1200, 1200).jpeg({ quality: 90 }).toBuffer();
    const sos = b.indexOf(Buffer.from([0xff, 0xda]));
    let at = sos + 2 + b.readUInt16BE(sos + 2) + 5000;
    while (b[at - 1] === 0xff) at++;
    b.write('PK\x03\x04', at, 'latin1');
    const firstEnd = 4 + b.readUInt16BE(4);
    const quirky = Buffer.concat([b.subarray(0, firstEnd), Buffer.from([0x00]), b.subarray(firstEnd)]);
    const fromApi = await api(quirky);
    expect(fromApi.status).toBe(200);
    const inBrowser = await browserCheck(page, quirky, 'cpu');
    expect(inBrowser.flagged).toBe(fromApi.json.flagged);
    expect(inBrowser.score).toBeCloseTo(fromApi.json.score as number, 4);
  });
});

describe('runtime choice', () => {
  it('makes the input on the CPU under software WebGL (SwiftShader here), on the GPU when asked', async () => {
    const jpeg = await sharp(NATURAL[3]).resize(640, 480).jpeg().toBuffer();
    const renderer = await page.evaluate(() => {
      const gl = new OffscreenCanvas(1, 1).getContext('webgl2')!;
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    });
    expect(renderer).toMatch(/SwiftShader/);
    const auto = await page.evaluate(async (b64) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const api = (window as unknown as { blankspot: { check(b: Blob, o: object): Promise<{ preprocessedOn: string }> } })
        .blankspot;
      return (await api.check(new Blob([bin]), { modelsUrl: '/models/' })).preprocessedOn;
    }, jpeg.toString('base64'));
    expect(auto).toBe('cpu');
    // The shader makes the whole photo's input: asked for a model that takes it whole.
    expect((await browserCheck(page, jpeg, 'gpu', 'localiser-wide')).preprocessedOn).toBe('gpu');
  });

  it('uses WASM when there is no WebGPU adapter', async () => {
    const info = (await page.evaluate(() =>
      (window as unknown as { blankspot: { runtimeInfo(o: object): Promise<unknown> } }).blankspot.runtimeInfo({
        modelsUrl: '/models/',
      }),
    )) as { backend: string; gpu: { adapter: boolean } };
    expect(info.backend).toBe('wasm');
    expect(info.gpu.adapter).toBe(false);
  });

  it('loads ONNX Runtime and the model when the file picker opens, so the first photo finds them ready', async () => {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      const fetched: string[] = [];
      p.on('requestfinished', (r) => fetched.push(new URL(r.url()).pathname));
      const runtimeAndModel = () => fetched.filter((u) => u.endsWith('.wasm') || u.endsWith('.onnx'));
      await p.goto(`${server.url}/`);
      await p.waitForFunction(() => customElements.get('blankspot-check') != null);
      // preload="none": opening the picker loads nothing.
      await p.evaluate(() => document.querySelector('blankspot-check')!.setAttribute('preload', 'none'));
      await Promise.all([p.waitForEvent('filechooser'), p.click('#image')]);
      await p.waitForTimeout(1500);
      expect(runtimeAndModel()).toEqual([]);
      // The default: the picker opening starts the load, before any photo is chosen.
      await p.evaluate(() => document.querySelector('blankspot-check')!.removeAttribute('preload'));
      const [chooser] = await Promise.all([p.waitForEvent('filechooser'), p.click('#image')]);
      await expect.poll(() => runtimeAndModel().length, { timeout: 30_000 }).toBe(2);
      expect(runtimeAndModel().some((u) => u.endsWith('.wasm'))).toBe(true);
      const verdict = p.evaluate(
        () =>
          new Promise<boolean>((resolve) =>
            document.addEventListener('blankspot-result', (e) => resolve((e as CustomEvent).detail.result.flagged), {
              once: true,
            }),
          ),
      );
      await chooser.setFiles({ name: 'damaged.jpg', mimeType: 'image/jpeg', buffer: await withRect(NATURAL[0]) });
      expect(await verdict).toBe(true);
      // Nothing more was downloaded for the check: it ran on what the picker's opening loaded.
      expect(runtimeAndModel()).toHaveLength(2);
    } finally {
      await context.close();
    }
  });

  it('recognises the software WebGPU adapter as a fallback and stays on WASM', async () => {
    const gpuBrowser = await launchChromium(['--enable-unsafe-webgpu']);
    try {
      const p = await gpuBrowser.newPage();
      await p.goto(`${server.url}/`);
      await p.waitForFunction(() => customElements.get('blankspot-check') != null);
      const info = (await p.evaluate(() =>
        (window as unknown as { blankspot: { runtimeInfo(o: object): Promise<unknown> } }).blankspot.runtimeInfo({
          modelsUrl: '/models/',
        }),
      )) as { backend: string; gpu: { api: boolean; adapter: boolean; fallback: boolean } };
      expect(info.gpu).toEqual({ api: true, adapter: true, fallback: true });
      expect(info.backend).toBe('wasm');
    } finally {
      await gpuBrowser.close();
    }
  });
});
