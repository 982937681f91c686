/**
 * `npm run bench:web`: the widget in Debian's headless Chromium on the demo page. Time from file
 * chosen to verdict (12-megapixel and 1000x1000 JPEGs) once the runtime is loaded, time to the first
 * verdict including the runtime's load, and the bytes the browser downloads (and what they weigh gzipped).
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { startNodeServer } from '@blankspot/edge/node';
import { writeBenchSection } from '@blankspot/edge/bench-docs';
import { launchChromium } from './browser.js';

const PHOTO = fileURLToPath(
  new URL('../../data/photos/natural/gcompris__explore_monuments_resource_wonders_colosseum.png', import.meta.url),
);
const MUG = fileURLToPath(new URL('../../data/cutouts/household_mug.png', import.meta.url));
/** A clean natural photo that earlier defaults found suspect at 12 MP (the looks column says whether the shipped one does). */
const SUSPECT_PHOTO = fileURLToPath(
  new URL('../../data/photos/natural/gcompris__explore_world_animals_resource_animals_kangaroo.png', import.meta.url),
);
/**
 * A 12 MP product shot a check should find suspect: a mug on white with a small white rectangle over its
 * corner. A first look between the closer look's start and the threshold takes the closer look (the looks column
 * says which path ran).
 */
async function suspectProduct(): Promise<Buffer> {
  const patch = await sharp({ create: { width: 200, height: 167, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
  return sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#ffffff' } })
    .composite([
      { input: await sharp(MUG).resize(1400, 1400, { fit: 'inside' }).toBuffer(), left: 1300, top: 800 },
      { input: patch, left: 1300, top: 800 },
    ])
    .jpeg({ quality: 90 })
    .toBuffer();
}
const photos: Array<[string, Buffer]> = [
  ['4000x3000 (12 MP)', await sharp(PHOTO).resize(4000, 3000).jpeg({ quality: 90 }).toBuffer()],
  ['1000x1000', await sharp(PHOTO).resize(1000, 1000).jpeg({ quality: 90 }).toBuffer()],
  ['4000x3000 product, a corner erased', await suspectProduct()],
  ['4000x3000 photo, clean (a kangaroo)', await sharp(SUSPECT_PHOTO).resize(4000, 3000).jpeg({ quality: 90 }).toBuffer()],
];

// `--runs N` (default 5) checks each photo N times; `--only TEXT` keeps the photos whose label holds TEXT.
const argAfter = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const RUNS = Math.max(3, Number(argAfter('--runs') ?? 5));
const ONLY = argAfter('--only');

/** How long the bench's seller spends in the file picker: choosing a photo takes a person a second or more. */
const PICKER_MS = 1000;

const server = await startNodeServer({ port: 0 });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  /** Each file's bytes, what they weigh gzipped, and what the server sent (`encoding`, when it compressed them). */
  const downloads: Array<{ url: string; bytes: number; gzip: number; sent: number; encoding: string }> = [];
  const pending: Array<Promise<void>> = [];
  page.on('response', (res) => void pending.push(weigh(res)));
  async function weigh(res: import('playwright-core').Response): Promise<void> {
    const url = new URL(res.url());
    if (url.protocol === 'blob:') return; // the photo's own thumbnail, not a download
    let body: Buffer;
    try {
      body = await res.body();
    } catch {
      // Streamed WASM compiles keep no body: fetch the same file again to weigh it.
      body = Buffer.from(await (await fetch(res.url())).arrayBuffer());
    }
    const sent = (await res.request().sizes()).responseBodySize;
    const encoding = (await res.headerValue('content-encoding')) ?? 'none';
    downloads.push({ url: url.pathname, bytes: body.length, gzip: gzipSync(body).length, sent, encoding });
  }
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => customElements.get('blankspot-check') != null);
  await Promise.all(pending);
  const beforeFirst = downloads.length;

  type Timings = { decodeMs: number; preprocessMs: number; inferenceMs: number; totalMs: number; score: number; looks: number };
  let lastTimings: Timings | null = null;
  const choose = async (bytes: Buffer) => {
    const done = page.evaluate(
      () =>
        new Promise<[number, Timings]>((resolve) => {
          // From the moment the page has the file (not from when the test harness starts sending it).
          let t0 = performance.now();
          document.querySelector('#image')!.addEventListener('change', () => (t0 = performance.now()), { once: true });
          document.addEventListener(
            'blankspot-result',
            (e) => {
              const result = (e as CustomEvent).detail.result as {
                timings: Omit<Timings, 'score' | 'looks'>;
                score: number;
                looks: number;
              };
              resolve([performance.now() - t0, { ...result.timings, score: result.score, looks: result.looks }]);
            },
            { once: true },
          );
        }),
    );
    await page.setInputFiles('#image', { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: bytes });
    const [ms, timings] = await done;
    lastTimings = timings;
    // A seller picks photos seconds apart: let the page finish showing this one (its thumbnail decoded)
    // before the next is chosen, so no run pays for the one before it.
    await page.evaluate(async () => {
      const img = document.querySelector('blankspot-check')?.shadowRoot?.querySelector('img');
      if (img?.getAttribute('src')) await img.decode().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 250));
    });
    return ms;
  };

  /** A first visit (its own context: nothing cached, nothing loaded): the picker opens, a photo is chosen PICKER_MS later. */
  async function firstVerdictAfterPicker(bytes: Buffer): Promise<number> {
    const context = await browser.newContext();
    try {
      const fresh = await context.newPage();
      await fresh.goto(`${server.url}/`);
      await fresh.waitForFunction(() => customElements.get('blankspot-check') != null);
      const [chooser] = await Promise.all([fresh.waitForEvent('filechooser'), fresh.click('#image')]);
      await fresh.waitForTimeout(PICKER_MS);
      const done = fresh.evaluate(
        () =>
          new Promise<number>((resolve) => {
            let t0 = performance.now();
            document.querySelector('#image')!.addEventListener('change', () => (t0 = performance.now()), { once: true });
            document.addEventListener('blankspot-result', () => resolve(performance.now() - t0), { once: true });
          }),
      );
      await chooser.setFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: bytes });
      return await done;
    } finally {
      await context.close();
    }
  }

  const firstMs = await choose(photos[1][1]);
  const pickerFirstMs = await firstVerdictAfterPicker(photos[1][1]);
  await Promise.all(pending);
  const lazy = downloads.slice(beforeFirst);
  const rows: string[] = [];
  for (const [label, bytes] of photos.filter(([label]) => ONLY == null || label.includes(ONLY))) {
    const runs: Array<[number, Timings]> = [];
    for (let i = 0; i < RUNS; i++) runs.push([await choose(bytes), lastTimings!]);
    runs.sort((a, b) => a[0] - b[0]);
    const [median, t] = runs[Math.floor(RUNS / 2)];
    rows.push(
      `| ${label} | ${median.toFixed(0)} | ${runs[0][0].toFixed(0)} | ${runs[RUNS - 1][0].toFixed(0)} | ` +
        `${t.decodeMs.toFixed(0)} / ${t.preprocessMs.toFixed(0)} / ${t.inferenceMs.toFixed(0)} / ${t.totalMs.toFixed(0)} | ${t.score.toFixed(3)} | ${t.looks} |`,
    );
  }
  const sum = (list: typeof downloads, k: 'bytes' | 'gzip' | 'sent') => list.reduce((a, d) => a + d[k], 0);
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const report: string[] = [];
  const out = (line: string) => {
    console.log(line);
    report.push(line);
  };
  out('\nwidget in headless Chromium (software only, WASM backend), file chosen -> verdict, runtime already loaded\n');
  // check()'s total runs from reading the file's bytes to the verdict; the rest of "median" is the page's.
  out('| photo | median ms | min ms | max ms | median run: decode / preprocess / inference / check() total ms | score | looks |');
  out('|---|---|---|---|---|---|---|');
  for (const r of rows) out(r);
  out(`\nfirst verdict including the runtime's lazy load (1000x1000 JPEG): ${firstMs.toFixed(0)} ms`);
  out(
    `first verdict, the file picker opened ${PICKER_MS} ms before the photo was chosen (the widget loads the runtime then): ${pickerFirstMs.toFixed(0)} ms`,
  );
  out(
    `downloaded on page load: ${kb(sum(downloads.slice(0, beforeFirst), 'bytes'))} (gzip ${kb(sum(downloads.slice(0, beforeFirst), 'gzip'))})`,
  );
  out(
    `downloaded lazily on the first photo: ${kb(sum(lazy, 'bytes'))} (gzip ${kb(sum(lazy, 'gzip'))}; ` +
      `sent by the Node server: ${kb(sum(lazy, 'sent'))})`,
  );
  for (const d of lazy) out(`  ${d.url}: ${kb(d.bytes)} (gzip ${kb(d.gzip)}; sent ${kb(d.sent)}, encoding ${d.encoding})`);
  // A full run rewrites its section of docs/benchmarks.md; a partial one (--only) leaves it.
  if (ONLY == null) {
    await writeBenchSection('web', 'The widget (`npm run bench:web`)', report);
    console.log('\nwrote docs/benchmarks.md (bench:web)');
  }
} finally {
  await browser.close();
  await server.close();
}
