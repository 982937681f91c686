/**
 * `npm run bench:train`: seconds per epoch per 1000 images for each network (the paper's Table 1
 * time measure), with PyTorch on the same CPU in the same run as the baseline when Debian's
 * python3-torch is installed. Both use the same batch size and thread count.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { useBackend, type BackendName } from '../backend.js';
import { buildSplits } from '../datasets/build.js';
import { NETWORK_NAMES } from '../networks.js';
import { defaultThreads } from '../parallel.js';
import { RECIPES, train } from '../train.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '2048' },
    epochs: { type: 'string', default: '2' },
    batch: { type: 'string', default: String(RECIPES.modern.batchSize) },
    threads: { type: 'string', default: String(defaultThreads()) },
    backend: { type: 'string', default: 'auto' },
  },
});
const images = Number(values.images);
const epochs = Number(values.epochs);
const batch = Number(values.batch);
const threads = Number(values.threads);
const PAPER_2015_GPU: Record<string, number> = { lr: 1.0, 'cnn-relu': 2.94, 'cnn-leaky': 2.96 };

async function torchTimes(): Promise<Record<string, number> | null> {
  const script = fileURLToPath(new URL('../../bench/torch_speed.py', import.meta.url));
  try {
    const { stdout } = await promisify(execFile)('/usr/bin/python3', [
      script,
      String(threads),
      String(batch),
      String(images),
      String(epochs),
    ]);
    return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
  } catch (e) {
    console.error(
      `PyTorch baseline skipped (${(e as Error).message.split('\n')[0]}); install Debian's python3-torch to compare.`,
    );
    return null;
  }
}

const backend = await useBackend(values.backend as BackendName | 'auto');
const data = await buildSplits({
  sets: ['photos'],
  protocol: 'paper',
  seed: 'bench',
  counts: { train: images, val: 64, test: 0 },
});
const ours: Record<string, number> = {};
for (const network of NETWORK_NAMES) {
  // One extra epoch first: JIT warm-up and worker start-up are not the steady state.
  const result = await train(data, { network, recipe: RECIPES.modern, seed: 1, epochs: epochs + 1, batchSize: batch, threads });
  const timed = result.epochs.slice(1);
  ours[network] = timed.reduce((a, e) => a + e.secondsPer1000, 0) / timed.length;
}
const torch = await torchTimes();
console.log(
  `\nseconds per epoch per 1000 images (${images} images, batch ${batch}, ${threads} threads, tfjs backend ${backend})\n`,
);
console.log('| network | blankspot (tfjs) | PyTorch, same CPU | blankspot / PyTorch | paper, 2015 GPU |');
console.log('|---|---|---|---|---|');
for (const network of NETWORK_NAMES) {
  const t = torch?.[network];
  console.log(
    `| ${network} | ${ours[network].toFixed(3)} | ${t == null ? 'n/a' : t.toFixed(3)} | ${t == null ? 'n/a' : (ours[network] / t).toFixed(2) + 'x'} | ${network in PAPER_2015_GPU ? PAPER_2015_GPU[network].toFixed(2) : 'n/a (not in the paper)'} |`,
  );
}
