/**
 * `npm run bench:api`: requests/s and latency of POST /v1/check on the Node server, next to a bare
 * baseline measured in the same run (the same photos only decoded and resized by sharp, same HTTP
 * stack and process model). Load comes from autocannon over loopback; every run is bounded in time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { writeBenchSection } from './bench-docs.js';
import { EDGE_DIR, WRANGLER, WRANGLER_ENV, startBareWorkerd, startWranglerDev } from './servers.js';

/** Every line of the report, printed and kept for docs/benchmarks.md. */
const report: string[] = [];
const out = (line: string) => {
  console.log(line);
  report.push(line);
};

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    only: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const PHOTO = fileURLToPath(
  new URL('../../data/photos/natural/gcompris__explore_monuments_resource_wonders_colosseum.png', import.meta.url),
);

async function startServer(script: string, args: string[]): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Keep reading stdout for the server's life: it writes a log line per request, and a pipe nobody
  // drains would block it.
  let out = '';
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      if (out.length < 4096) out += String(chunk);
      const m = /(?:listening |on http:\/\/127\.0\.0\.1:)(\d+)/.exec(out);
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}`, proc });
    });
    proc.once('exit', () => reject(new Error(`server ${script} did not start: ${out}`)));
  });
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, body: Buffer, overallRate?: number): Promise<Load> {
  const r = await autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': 'image/jpeg' },
    connections: overallRate ? Math.max(2, Math.min(CONNECTIONS, Math.ceil(overallRate / 10))) : CONNECTIONS,
    duration: SECONDS,
    ...(overallRate ? { overallRate } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const photos: Array<[string, Buffer]> = [
  // Real photos from the repo, enlarged: the shipped set has no 12-megapixel originals.
  ['1000x1000', await sharp(PHOTO).resize(1000, 1000).jpeg({ quality: 90 }).toBuffer()],
  ['4000x3000', await sharp(PHOTO).resize(4000, 3000).jpeg({ quality: 90 }).toBuffer()],
];

/**
 * A mug alone on a white 1200x1200 canvas, the mug with an apple well apart from it (the check also looks
 * at each object), and the mug with a small white rectangle over its corner: a suspect first look, which
 * takes the default's closer look when its score reaches the closer look's start (the score column tells).
 */
async function productShots(): Promise<Array<[string, Buffer]>> {
  const cutout = (name: string, size: number) =>
    sharp(fileURLToPath(new URL(`../../data/cutouts/${name}`, import.meta.url)))
      .resize(size, size, { fit: 'inside' })
      .toBuffer();
  const shot = async (layers: sharp.OverlayOptions[]) =>
    sharp({ create: { width: 1200, height: 1200, channels: 3, background: '#ffffff' } })
      .composite(layers)
      .jpeg({ quality: 90 })
      .toBuffer();
  const mug = await cutout('household_mug.png', 420);
  return [
    ['one object', await shot([{ input: mug, left: 390, top: 390 }])],
    [
      'two objects',
      await shot([
        { input: mug, left: 600, top: 300 },
        { input: await cutout('food_apple_red.png', 300), left: 200, top: 650 },
      ]),
    ],
    [
      'one object, a corner erased',
      await shot([
        { input: mug, left: 390, top: 390 },
        {
          input: await sharp({ create: { width: 60, height: 50, channels: 3, background: '#ffffff' } })
            .png()
            .toBuffer(),
          left: 390,
          top: 390,
        },
      ]),
    ],
  ];
}

/**
 * The Worker's cold start (the first check after start: the default model loads, the code is not yet
 * optimised) and warm latency, in the deployed bundle on bare workerd and in `wrangler dev`, whose
 * proxy sits in front of workerd.
 */
async function workerTimings(
  body: Buffer,
  where: 'workerd' | 'wrangler',
): Promise<{ startMs: number; coldMs: number; warmP50: number; warmP99: number; score: number }> {
  const t = performance.now();
  const dev = where === 'workerd' ? await startBareWorkerd({ ready: 'socket' }) : await startWranglerDev();
  const startMs = performance.now() - t;
  let score = NaN;
  try {
    const check = async () => {
      const t0 = performance.now();
      const res = await fetch(`${dev.url}/v1/check`, { method: 'POST', body: new Uint8Array(body) });
      if (res.status !== 200) throw new Error(`worker answered ${res.status}: ${await res.text()}`);
      score = ((await res.json()) as { score: number }).score;
      return performance.now() - t0;
    };
    const coldMs = await check();
    const warm: number[] = [];
    for (let i = 0; i < 50; i++) warm.push(await check());
    warm.sort((a, b) => a - b);
    return { startMs, coldMs, warmP50: warm[24], warmP99: warm[49], score };
  } finally {
    await dev.close();
  }
}

/** Medians of one number over many checks. */
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/**
 * Where one check's time goes: sequential requests (no queueing), each answer's own timings (decode or
 * JPEG block read, framing and input, the model's runs, the check in all) against the round trip the
 * client sees, and the baseline server's round trip for the same photo.
 */
async function profile(apiUrl: string, baseUrl: string, body: Buffer, n = 40) {
  const rows: Array<{ decodeMs: number; preprocessMs: number; inferenceMs: number; totalMs: number; http: number }> = [];
  let looks = 0;
  const base: number[] = [];
  for (let i = 0; i < n + 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`${apiUrl}/v1/check`, { method: 'POST', body: new Uint8Array(body) });
    const answer = (await res.json()) as { looks: number; timings: Omit<(typeof rows)[number], 'http'> };
    const http = performance.now() - t0;
    const t1 = performance.now();
    await (await fetch(`${baseUrl}/decode`, { method: 'POST', body: new Uint8Array(body) })).arrayBuffer();
    // The first few warm up both servers.
    if (i < 5) continue;
    base.push(performance.now() - t1);
    rows.push({ ...answer.timings, http });
    looks = answer.looks;
  }
  const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k]));
  return {
    decode: m('decodeMs'),
    preprocess: m('preprocessMs'),
    inference: m('inferenceMs'),
    check: m('totalMs'),
    http: m('http'),
    baseline: median(base),
    looks,
  };
}

async function uploadSize(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [WRANGLER, 'deploy', '--dry-run', '--outdir', '.wrangler/dry-run'],
    {
      cwd: EDGE_DIR,
      env: WRANGLER_ENV,
    },
  );
  return /Total Upload: (.*)/.exec(stdout)?.[1] ?? 'unknown';
}

const rows: string[] = [];
const profiles: string[] = [];
if (values.only !== 'worker') {
  const api = await startServer('../dist/node/main.js', ['--port', '0']);
  const base = await startServer('./baseline-server.js', ['0']);
  try {
    for (const [label, body] of photos) {
      const p = await profile(api.url, base.url, body);
      const f = (v: number) => v.toFixed(1);
      profiles.push(
        `| ${label} | ${f(p.decode)} | ${f(p.preprocess)} | ${f(p.inference)} (${p.looks} look${p.looks > 1 ? 's' : ''}) | ${f(p.check)} | ` +
          `${f(p.http - p.check)} | ${f(p.http)} | ${f(p.baseline)} | ${(p.http / p.baseline).toFixed(2)}x |`,
      );
    }
    for (const [label, body] of photos) {
      const apiMax = await load(`${api.url}/v1/check`, body);
      const baseMax = await load(`${base.url}/decode`, body);
      const half = Math.max(1, Math.floor(apiMax.rps / 2));
      const apiHalf = await load(`${api.url}/v1/check`, body, half);
      // The baseline at half its own maximum: what any server that decodes these photos gets here.
      const baseHalf = await load(`${base.url}/decode`, body, Math.max(1, Math.floor(baseMax.rps / 2)));
      rows.push(
        `| ${label} | ${apiMax.rps.toFixed(1)} | ${baseMax.rps.toFixed(1)} | ${(apiMax.rps / baseMax.rps).toFixed(2)}x | ` +
          `${apiMax.p50} / ${apiMax.p99} | ${half} | ${apiHalf.p50} / ${apiHalf.p99} | ${baseHalf.p50} / ${baseHalf.p99} | ` +
          `${apiMax.errors + apiMax.non2xx + apiHalf.errors + apiHalf.non2xx} |`,
      );
    }
  } finally {
    for (const s of [api, base]) {
      s.proc.kill('SIGTERM');
      await once(s.proc, 'exit');
    }
  }
  out(`\nPOST /v1/check on Node, ${CONNECTIONS} connections, ${SECONDS} s per run, loopback\n`);
  out(
    '| photo | API req/s | baseline req/s (sharp decode+resize) | API / baseline | API p50 / p99 ms at max | half rate req/s | API p50 / p99 ms at half rate | baseline p50 / p99 ms at its half rate | errors + non-2xx |',
  );
  out('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) out(r);
  out(`\nWhere one check's time goes on Node (sequential requests, medians of 40; from each answer's \`timings\`):\n`);
  out(
    '| photo | decode or JPEG block read ms | framing and input ms | model runs ms | check ms | HTTP and the rest ms | round trip ms | baseline round trip ms | round trip / baseline |',
  );
  out('|---|---|---|---|---|---|---|---|---|');
  for (const r of profiles) out(r);
}

if (values.only !== 'node') {
  out(`\nWorker, ${photos[0][0]} JPEG, sequential requests over loopback:\n`);
  out('| served by | process start to ready | cold start (first check) | warm p50 | warm p99 (50 requests) |');
  out('|---|---|---|---|---|');
  for (const where of ['workerd', 'wrangler'] as const) {
    const w = await workerTimings(photos[0][1], where);
    out(
      `| ${where === 'workerd' ? 'workerd (the deployed bundle)' : 'wrangler dev'} | ${w.startMs.toFixed(0)} ms | ${w.coldMs.toFixed(0)} ms | ` +
        `${w.warmP50.toFixed(1)} ms | ${w.warmP99.toFixed(1)} ms |`,
    );
  }
  // Product shots on white (content framing): one thing, and two apart, which the check also looks at
  // one by one (three looks instead of one; `findFrames` in the core), on workerd in the same run.
  out(`\nWorker (workerd), 1200x1200 product shots on white, JPEG q90:\n`);
  out('| shot | warm p50 | warm p99 (50 requests) | score |');
  out('|---|---|---|---|');
  for (const [label, body] of await productShots()) {
    const w = await workerTimings(body, 'workerd');
    out(`| ${label} | ${w.warmP50.toFixed(1)} ms | ${w.warmP99.toFixed(1)} ms | ${w.score.toFixed(3)} |`);
  }
  out(`\nUpload size (wrangler deploy --dry-run): ${await uploadSize()}`);
}

// A full run rewrites its section of docs/benchmarks.md; a partial one (--only) leaves it.
if (values.only == null) {
  await writeBenchSection('api', 'The API and the Worker (`npm run bench:api`)', report);
  console.log('\nwrote docs/benchmarks.md (bench:api)');
}
