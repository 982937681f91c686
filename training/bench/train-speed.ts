/**
 * `npm run bench:train`: seconds per epoch per 1000 images for the networks with a PyTorch twin (the
 * paper's Table 1 time measure) against PyTorch on the same CPU, same data size, batch size and threads.
 *
 * One pass of each side is no measurement on a shared machine (PyTorch's own times moved 4x between
 * runs here), so the two sides alternate epoch by epoch, ours then PyTorch's, `--pairs` times per
 * network and batch size, after one warm-up epoch each; the table gives each side's median, the ratio
 * of the medians, and the spread of the per-pair ratios (min-max). PyTorch runs in long-lived
 * processes (training/bench/torch_speed.py, Debian's python3-torch), so its start-up is never timed.
 * A PyTorch process settles in one of two speeds for its whole life (the small cnns ~0.3 s or ~1.2 s
 * per 1000 images here, even on an idle machine), so `--torch-processes` of them (default 3) each run
 * every PyTorch epoch of a pair, one after another, and the comparison is with the fastest process:
 * the bar is PyTorch at its best. Both sides first run `--warmup` epochs (default 2): `lr`'s epoch
 * on 2,048 images is ~40 ms, and V8 was still compiling the step in the second one (0.029 s per
 * 1000 images, then 0.021, then 0.016-0.017).
 *   node training/dist-bench/train-speed.js [--pairs 5] [--batch 32,128] [--images 2048] [--threads N]
 *     [--networks lr,cnn-relu,...] [--backend auto] [--torch-processes 3] [--warmup 2]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  NETWORK_NAMES,
  NETWORKS,
  RECIPES,
  buildSplits,
  defaultThreads,
  isNetworkName,
  train,
  useBackend,
  type BackendName,
  type NetworkName,
} from '@blankspot/training';

/** The networks training/bench/torch_speed.py writes in PyTorch too: the pretrained stream's has no twin there. */
const TORCH_TWINS: NetworkName[] = [
  'lr',
  'cnn-relu',
  'cnn-leaky',
  'localiser',
  'localiser-wide',
  'localiser-deep',
  'localiser-128',
];

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '2048' },
    pairs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '32,128' },
    threads: { type: 'string', default: String(defaultThreads()) },
    networks: { type: 'string', default: TORCH_TWINS.join(',') },
    backend: { type: 'string', default: 'auto' },
    'torch-processes': { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
  },
});
const warmup = Math.max(1, Number(values.warmup));
const images = Number(values.images);
const pairs = Number(values.pairs);
const batches = values.batch.split(',').map(Number);
const threads = Number(values.threads);
const networks = values.networks.split(',').filter(isNetworkName);
const untwinned = networks.filter((n) => !TORCH_TWINS.includes(n));
if (untwinned.length) {
  console.error(
    `no PyTorch twin for ${untwinned.join(', ')} (of ${NETWORK_NAMES.join(', ')}): --networks from ${TORCH_TWINS.join(',')}`,
  );
  process.exit(2);
}
const PAPER_2015_GPU: Partial<Record<NetworkName, number>> = { lr: 1.0, 'cnn-relu': 2.94, 'cnn-leaky': 2.96 };

/** The PyTorch side: one process, one epoch per request. Null when python3-torch is missing. */
async function startTorch(): Promise<{
  epoch(network: string, batch: number): Promise<number>;
  close(): void;
  version: string;
} | null> {
  const script = fileURLToPath(new URL('../bench/torch_speed.py', import.meta.url));
  const child = spawn('/usr/bin/python3', [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(stderr.trim().split('\n').pop() ?? 'PyTorch exited');
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  try {
    const hello = await next();
    return {
      version: String(hello.torch),
      async epoch(network, batch) {
        child.stdin.write(JSON.stringify({ network, batch, threads, images }) + '\n');
        return Number((await next()).seconds_per_1000);
      },
      close: () => child.stdin.end(),
    };
  } catch (e) {
    console.error(`PyTorch baseline skipped (${(e as Error).message}); install Debian's python3-torch to compare.`);
    return null;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const backend = await useBackend(values.backend as BackendName | 'auto', { threads });
// The paper's 64x64 crops; a network of another input side (localiser-128) gets photos at its side.
const dataBySide = new Map<number, Awaited<ReturnType<typeof buildSplits>>>();
for (const side of new Set(networks.map((n) => NETWORKS[n].inputSize)))
  dataBySide.set(
    side,
    await buildSplits({
      sets: ['photos'],
      protocol: side === 64 ? 'paper' : 'realistic',
      seed: 'bench',
      counts: { train: images, val: 64, test: 0 },
      ...(side === 64 ? {} : { inputSize: side }),
    }),
  );
const torches = (await Promise.all(Array.from({ length: Number(values['torch-processes']) }, startTorch))).filter(
  (t) => t != null,
);
const torch = torches[0] ?? null;
interface Row {
  network: NetworkName;
  batch: number;
  ours: number[];
  /** Per PyTorch process, its epochs in pair order. */
  perProcess: number[][];
  /** The fastest process's epochs (by median). */
  theirs: number[];
}
const rows: Row[] = [];
try {
  for (const batch of batches) {
    for (const network of networks) {
      const row: Row = { network, batch, ours: [], perProcess: torches.map(() => []), theirs: [] };
      // Warm-up on both sides first: JIT, worker start-up and allocator growth are not the steady state.
      for (let w = 0; w < warmup; w++) for (const t of torches) await t.epoch(network, batch);
      await train(dataBySide.get(NETWORKS[network].inputSize)!, {
        network,
        recipe: RECIPES.modern,
        seed: 1,
        epochs: pairs + warmup,
        batchSize: batch,
        threads,
        async onEpoch(e) {
          if (e.epoch <= warmup) return;
          row.ours.push(e.secondsPer1000);
          for (const [i, t] of torches.entries()) row.perProcess[i].push(await t.epoch(network, batch));
        },
      });
      if (torch) row.theirs = row.perProcess.reduce((a, b) => (median(b) < median(a) ? b : a));
      rows.push(row);
      console.error(
        `${network} batch ${batch}: ours ${median(row.ours).toFixed(3)} s, PyTorch ` +
          (torch
            ? `${median(row.theirs).toFixed(3)} s (processes: ${row.perProcess.map((p) => median(p).toFixed(3)).join(', ')})`
            : 'n/a'),
      );
    }
  }
} finally {
  for (const t of torches) t.close();
}

console.log(
  `\nseconds per epoch per 1000 images: ${images} images, ${pairs} alternating pairs after ${warmup} warm-up epochs, ` +
    `${threads} threads, tfjs backend ${backend}` +
    `${torch ? `, PyTorch ${torch.version} (the fastest of ${torches.length} processes)` : ''}\n`,
);
console.log(
  '| network | batch | blankspot (median) | PyTorch (median) | blankspot / PyTorch | per-pair ratios (min-max) | paper, 2015 GPU |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const ratios = r.theirs.map((t, i) => r.ours[i] / t);
  const paper = PAPER_2015_GPU[r.network];
  console.log(
    `| ${r.network} | ${r.batch} | ${median(r.ours).toFixed(3)} | ${torch ? median(r.theirs).toFixed(3) : 'n/a'} | ` +
      `${torch ? (median(r.ours) / median(r.theirs)).toFixed(2) + 'x' : 'n/a'} | ` +
      `${torch ? `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x` : 'n/a'} | ` +
      `${paper == null ? 'n/a (not in the paper)' : paper.toFixed(2)} |`,
  );
}
