/**
 * `npm run fuzz`: ≥10,000 mutated uploads against the Node server and the Worker in local workerd,
 * counting statuses (no 5xx allowed), malformed answers and dropped connections, with the servers'
 * resident memory sampled before and after.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { fuzz } from './fuzz-lib.js';
import { freePort, startBareWorkerd, startWranglerDev } from './servers.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '8' },
    // workerd: the deployed bundle in bare workerd; wrangler: the same under `wrangler dev`.
    runtime: { type: 'string', default: 'node,workerd' },
  },
});
const COUNT = Number(values.count);
const PHOTO = fileURLToPath(
  new URL('../../data/photos/natural/gcompris__explore_world_animals_resource_animals_koala.png', import.meta.url),
);
const seeds = await Promise.all([
  sharp(PHOTO).jpeg({ quality: 85 }).toBuffer(),
  sharp(PHOTO).jpeg({ quality: 85, progressive: true }).withMetadata({ orientation: 6 }).toBuffer(),
  sharp(PHOTO).png().toBuffer(),
  sharp(PHOTO).ensureAlpha(0.5).png().toBuffer(),
  sharp(PHOTO).webp({ quality: 80 }).toBuffer(),
  sharp(PHOTO).webp({ lossless: true }).toBuffer(),
]).then((list) => list.map((b) => new Uint8Array(b)));

function rssMiB(pid: number): number {
  // The whole process group: wrangler runs workerd as a child.
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgid !== pid) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
      total += m ? Number(m[1]) / 1024 : 0;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

type Runtime = 'node' | 'workerd' | 'wrangler';

async function start(kind: Runtime): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  if (kind === 'workerd') return startBareWorkerd();
  if (kind === 'wrangler') return startWranglerDev();
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [fileURLToPath(new URL('../dist/node/main.js', import.meta.url)), '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    },
  );
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => /demo page on http/.test(String(c)) && resolve());
    proc.once('exit', (code) => reject(new Error(`the Node server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid!, close: async () => void process.kill(-proc.pid!, 'SIGTERM') };
}

console.log(`${COUNT} mutated uploads per runtime, ${values.concurrency} at a time\n`);
console.log('| runtime | statuses | 5xx | malformed | dropped | seconds | RSS before → after (MiB) |');
console.log('|---|---|---|---|---|---|---|');
let failed = false;
const traces: string[] = [];
const runtimes = values.runtime.split(',').filter((r): r is Runtime => ['node', 'workerd', 'wrangler'].includes(r));
for (const kind of runtimes) {
  const server = await start(kind);
  try {
    // Warm up (models load on first use), then measure.
    await fuzz(server.url, seeds, 50, 4, 1_000_000);
    const before = rssMiB(server.pid);
    // In chunks, with the memory sampled after each: bounded memory levels off, a leak keeps climbing.
    const chunk = Math.max(1, Math.ceil(COUNT / 10));
    const report = { sent: 0, byStatus: {} as Record<number, number>, malformed: 0, dropped: 0, seconds: 0 };
    const trace: number[] = [];
    for (let done = 0; done < COUNT; done += chunk) {
      const part = await fuzz(server.url, seeds, Math.min(chunk, COUNT - done), Number(values.concurrency), done);
      report.sent += part.sent;
      report.malformed += part.malformed;
      report.dropped += part.dropped;
      report.seconds += part.seconds;
      for (const [s, n] of Object.entries(part.byStatus)) report.byStatus[Number(s)] = (report.byStatus[Number(s)] ?? 0) + n;
      trace.push(rssMiB(server.pid));
    }
    const after = trace.at(-1)!;
    traces.push(`${kind}: RSS after each tenth (MiB): ${trace.map((r) => r.toFixed(0)).join(', ')}`);
    const five = Object.entries(report.byStatus)
      .filter(([s]) => Number(s) >= 500)
      .reduce((a, [, n]) => a + n, 0);
    failed ||= five > 0 || report.malformed > 0 || report.dropped > 0;
    const statuses = Object.entries(report.byStatus)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ');
    console.log(
      `| ${kind} | ${statuses} | ${five} | ${report.malformed} | ${report.dropped} | ${report.seconds.toFixed(0)} | ${before.toFixed(0)} → ${after.toFixed(0)} |`,
    );
  } finally {
    process.kill(-server.pid, 'SIGTERM');
  }
}
console.log('');
for (const t of traces) console.log(t);
process.exitCode = failed ? 1 : 0;
