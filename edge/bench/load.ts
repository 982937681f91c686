/**
 * `npm run load` (and `-- --minutes 30` for the soak): steady load on the Node server from the
 * same machine, ~10% of requests hostile (foreign formats, truncations, bombs, oversize), the rest real
 * photos. Counts statuses per class and dropped connections, and samples the server's RSS over time.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    minutes: { type: 'string' },
    concurrency: { type: 'string', default: '6' },
  },
});
const SECONDS = values.minutes ? Number(values.minutes) * 60 : Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const photo = (n: string) => fileURLToPath(new URL(`../../data/photos/natural/${n}`, import.meta.url));
const valid = await Promise.all(
  [
    'gcompris__explore_world_animals_resource_animals_koala.png',
    'gcompris__explore_monuments_resource_wonders_colosseum.png',
    'tuxpaint__templates_burnt_bark.png',
  ].flatMap((n) => [
    sharp(photo(n)).resize(1000, 1000).jpeg({ quality: 90 }).toBuffer(),
    sharp(photo(n)).png().toBuffer(),
    sharp(photo(n)).webp().toBuffer(),
  ]),
);
const bomb = Buffer.from('89504e470d0a1a0a0000000d49484452000186a0000186a00802000000', 'hex');
const hostile = [
  Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
  Buffer.from('%PDF-1.4'),
  valid[0].subarray(0, 5000),
  bomb,
  Buffer.alloc(0),
  Buffer.concat([valid[0], Buffer.from('<script>')]),
];

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN; // the server is gone: reported below
  }
}

const server = spawn(process.execPath, [fileURLToPath(new URL('../dist/node/main.js', import.meta.url)), '--port', '0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let serverExit: number | null = null;
server.once('exit', (code) => (serverExit = code ?? -1));
const url = await new Promise<string>((resolve) => {
  let out = '';
  server.stdout!.on('data', (c: Buffer) => {
    out += String(c);
    const m = /on (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
});

const counts = {
  valid: {} as Record<number, number>,
  hostile: {} as Record<number, number>,
  dropped: 0,
  validLatencies: [] as number[],
};
const samples: Array<[number, number]> = [];
const t0 = Date.now();
const sampler = setInterval(
  () => samples.push([(Date.now() - t0) / 1000, rssMiB(server.pid!)]),
  Math.max(1000, (SECONDS * 1000) / 60),
);
let i = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() - t0 < SECONDS * 1000) {
      const n = i++;
      const isHostile = n % 10 === 0;
      const body = isHostile ? hostile[(n / 10) % hostile.length] : valid[n % valid.length];
      const start = performance.now();
      try {
        const res = await fetch(`${url}/v1/check`, { method: 'POST', body: new Uint8Array(body) });
        await res.arrayBuffer();
        const bucket = isHostile ? counts.hostile : counts.valid;
        bucket[res.status] = (bucket[res.status] ?? 0) + 1;
        if (!isHostile) counts.validLatencies.push(performance.now() - start);
      } catch {
        counts.dropped++;
      }
    }
  }),
);
clearInterval(sampler);
samples.push([(Date.now() - t0) / 1000, rssMiB(server.pid!)]);
server.kill('SIGTERM');

const lat = counts.validLatencies.sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]?.toFixed(1);
const fmt = (b: Record<number, number>) =>
  Object.entries(b)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
console.log(`\n${SECONDS} s of load, ${CONCURRENCY} concurrent, ~10% hostile\n`);
console.log(`valid requests:   ${fmt(counts.valid)} (p50 ${pct(50)} ms, p99 ${pct(99)} ms)`);
console.log(`hostile requests: ${fmt(counts.hostile)}`);
console.log(`dropped connections: ${counts.dropped}`);
if (serverExit != null) console.log(`the server exited during the run (code ${serverExit})`);
const firstThird = samples.filter(([t]) => t >= SECONDS / 3 && t < (2 * SECONDS) / 3).map(([, r]) => r);
const lastThird = samples.filter(([t]) => t >= (2 * SECONDS) / 3).map(([, r]) => r);
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(
  `server RSS (MiB): start ${samples[0]?.[1].toFixed(0)}, max ${Math.max(...samples.map(([, r]) => r)).toFixed(0)}, middle third avg ${avg(firstThird).toFixed(0)}, last third avg ${avg(lastThird).toFixed(0)}, end ${samples.at(-1)?.[1].toFixed(0)}`,
);
const bad =
  Object.keys(counts.valid).some((s) => s !== '200') ||
  Object.keys(counts.hostile).some((s) => Number(s) >= 500) ||
  counts.dropped > 0;
process.exitCode = bad ? 1 : 0;
