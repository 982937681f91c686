/**
 * The Worker's demo page under `wrangler dev`, as a newcomer opens it: the page, the widget it loads and
 * the models the widget reads all come from the Worker (its static assets), and the widget checks a photo
 * in Chromium with the verdict the Worker's API gives.
 */
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWranglerDev, type WranglerDev } from '@blankspot/edge/dev-servers';
import { launchChromium } from './browser.js';

const PHOTO = fileURLToPath(
  new URL('../../data/photos/natural/gcompris__explore_monuments_resource_wonders_colosseum.png', import.meta.url),
);
let dev: WranglerDev;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dev = await startWranglerDev();
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${dev.url}/`);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await dev?.close();
});

/** A 600x600 JPEG of the photo, with a white square over 27% of its side when `damaged`. */
async function photo(damaged: boolean): Promise<Buffer> {
  const base = sharp(await sharp(PHOTO).resize(600, 600).png().toBuffer());
  if (!damaged) return base.jpeg({ quality: 92 }).toBuffer();
  const white = await sharp({ create: { width: 162, height: 162, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  return base
    .composite([{ input: white, left: 300, top: 180 }])
    .jpeg({ quality: 92 })
    .toBuffer();
}

describe("the Worker's demo page under wrangler dev", () => {
  it('serves the widget and the models from the Worker', async () => {
    const widget = await fetch(`${dev.url}/widget/blankspot.js`);
    expect(widget.status).toBe(200);
    expect(widget.headers.get('content-type')).toMatch(/javascript/);
    const manifest = (await (await fetch(`${dev.url}/models/manifest.json`)).json()) as { default: string };
    const models = (await (await fetch(`${dev.url}/v1/models`)).json()) as { models: Array<{ name: string; default: boolean }> };
    expect(manifest.default).toBe(models.models.find((m) => m.default)?.name);
    expect((await fetch(`${dev.url}/widget/no-such-file.js`)).status).toBe(404);
  });

  it('defines <blankspot-check> and checks a photo in the browser as the Worker API does', async () => {
    await page.waitForFunction(() => customElements.get('blankspot-check') != null, undefined, { timeout: 30_000 });
    for (const damaged of [true, false]) {
      const bytes = await photo(damaged);
      const api = (await (await fetch(`${dev.url}/v1/check`, { method: 'POST', body: new Uint8Array(bytes) })).json()) as {
        flagged: boolean;
        score: number;
      };
      expect(api.flagged).toBe(damaged);
      const result = page.evaluate(
        () =>
          new Promise<{ flagged: boolean; score: number; backend: string }>((resolve, reject) => {
            document.addEventListener('blankspot-result', (e) => resolve((e as CustomEvent).detail.result), { once: true });
            document.addEventListener('blankspot-error', (e) => reject(new Error((e as CustomEvent).detail.code)), {
              once: true,
            });
          }),
      );
      await page.setInputFiles('#image', { name: damaged ? 'damaged.jpg' : 'clean.jpg', mimeType: 'image/jpeg', buffer: bytes });
      const verdict = await result;
      expect(verdict.flagged).toBe(damaged);
      expect(verdict.score).toBeCloseTo(api.score, 3);
      expect(verdict.backend).toBe('wasm');
    }
  }, 120_000);
});
