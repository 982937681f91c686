/**
 * `blankspot report`: regenerates reports/ from run logs: Table 1 next to the paper's, learning
 * curves and dead-unit curves as SVG (vega-lite), and for every trained model its accuracy against
 * the Bayes ceiling, recall on visible rectangles and false positives on clean photos.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { loadCheckpoint } from './checkpoint.js';
import type { Examples } from './datasets/build.js';
import { NETWORKS, atSide, disposeParams, paramsFromValues } from './networks.js';
import { rebuildTestSplit, type RunLog } from './run.js';
import { evaluate, localisation, type Localisation } from './train.js';
import { quality, type ModelQuality, type Rate } from './metrics.js';

/** Table 1 of Churchley et al. (2015): test accuracy, and seconds per epoch per 1000 images on their GPU. */
export const PAPER_TABLE_1: Record<
  string,
  { binary: number; solid: number; photos: number | null; products: number | null; time: number }
> = {
  lr: { binary: 1.0, solid: 0.749, photos: 0.55, products: null, time: 1.0 },
  'cnn-relu': { binary: 1.0, solid: 1.0, photos: 0.502, products: null, time: 2.94 },
  'cnn-leaky': { binary: 1.0, solid: 1.0, photos: 0.633, products: 0.651, time: 2.96 },
};

interface Run {
  dir: string;
  log: RunLog;
}

async function findRuns(root: string): Promise<Run[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const runs: Run[] = [];
  for (const e of entries) {
    if (!e.isFile() || e.name !== 'log.json') continue;
    const path = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const log = JSON.parse(await readFile(path, 'utf8')) as RunLog;
    if (log.test && log.epochs?.length) runs.push({ dir: dirname(path), log });
  }
  return runs.sort((a, b) => a.dir.localeCompare(b.dir));
}

async function svg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/**
 * A reliability diagram: for each bin of scores, the share of damaged photos against the bins' mean
 * score, one line per series (e.g. before and after calibration), with the diagonal a calibrated
 * model would follow. Each point's size is its bin's count.
 */
export async function reliabilitySvg(
  title: string | string[],
  series: Record<string, ReadonlyArray<{ meanScore: number; damaged: number; count: number }>>,
): Promise<string> {
  const values = Object.entries(series).flatMap(([name, bins]) =>
    bins.filter((b) => b.count > 0).map((b) => ({ series: name, score: b.meanScore, damaged: b.damaged, photos: b.count })),
  );
  return svg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 11 },
    width: 320,
    height: 320,
    layer: [
      {
        data: {
          values: [
            { score: 0, damaged: 0 },
            { score: 1, damaged: 1 },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: { field: 'score', type: 'quantitative' }, y: { field: 'damaged', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'score', type: 'quantitative', title: 'mean score in the bin', scale: { domain: [0, 1] } },
          y: { field: 'damaged', type: 'quantitative', title: 'share damaged', scale: { domain: [0, 1] } },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      {
        data: { values },
        mark: { type: 'circle', opacity: 0.8 },
        encoding: {
          x: { field: 'score', type: 'quantitative' },
          y: { field: 'damaged', type: 'quantitative' },
          color: { field: 'series', type: 'nominal', title: null },
          size: { field: 'photos', type: 'quantitative', title: 'photos', scale: { range: [20, 400] } },
        },
      },
    ],
  });
}

/** One trained model scored on one set of its test data. */
export interface SetScore {
  run: Run;
  set: string;
  count: number;
  quality: ModelQuality;
  localisation: Localisation | null;
}

interface Target {
  what: string;
  network: string;
  protocol: string;
  set: string;
  /** The measured value and whether it meets the target. */
  measure: (s: SetScore) => number;
  meets: (value: number, s: SetScore) => boolean;
  show: (value: number, s: SetScore) => string;
  /** Not one of the issue's targets (those are under the paper protocol unless said): shown for reference. */
  reference?: boolean;
}

const accuracy = (s: SetScore) => s.quality.accuracy;
/** A rate with its 95% interval and count: '1.2% (0.8-1.9%) of 2000'. */
const interval = (r: Rate) => `${pct(r.rate)} (${pct(r.low)}-${pct(r.high)}) of ${r.total}`;
const atLeast = (min: number) => (v: number) => v >= min - 1e-12;

/** Issue #4's targets, on unseen photos. */
const TARGETS: Target[] = [
  ...(['lr', 'cnn-relu', 'cnn-leaky'] as const).map((network) => ({
    what: 'Binary: 100%',
    network,
    protocol: 'paper',
    set: 'binary',
    measure: accuracy,
    meets: atLeast(1),
    show: (v: number) => pct(v),
  })),
  ...(['cnn-relu', 'cnn-leaky'] as const).map((network) => ({
    what: 'Solid: >= 99.9%',
    network,
    protocol: 'paper',
    set: 'solid',
    measure: accuracy,
    meets: atLeast(0.999),
    show: (v: number) => pct(v),
  })),
  {
    what: 'Natural photos: >= 95%',
    network: 'cnn-leaky',
    protocol: 'paper',
    set: 'photos',
    measure: accuracy,
    meets: atLeast(0.95),
    show: (v) => pct(v),
  },
  {
    what: 'Natural photos: >= 99.5%',
    network: 'localiser',
    protocol: 'paper',
    set: 'photos',
    measure: accuracy,
    meets: atLeast(0.995),
    show: (v) => pct(v),
  },
  {
    what: 'Products on white: >= 80%',
    network: 'cnn-leaky',
    protocol: 'paper',
    set: 'products',
    measure: accuracy,
    meets: atLeast(0.8),
    show: (v) => pct(v),
  },
  {
    what: 'Products on white: within 2 points of the Bayes ceiling',
    network: 'localiser',
    protocol: 'paper',
    set: 'products',
    measure: accuracy,
    meets: (v, s) => s.quality.bayesCeiling - v <= 0.02 + 1e-12,
    show: (v, s) => `${pct(v)} (ceiling ${pct(s.quality.bayesCeiling)})`,
  },
  {
    what: 'Realistic, natural photos: >= 95%',
    network: 'localiser',
    protocol: 'realistic',
    set: 'photos',
    measure: accuracy,
    meets: atLeast(0.95),
    show: (v) => pct(v),
  },
  {
    what: 'Realistic, products on white: >= 80%',
    network: 'localiser',
    protocol: 'realistic',
    set: 'products',
    measure: accuracy,
    meets: atLeast(0.8),
    show: (v) => pct(v),
  },
  ...(['paper', 'realistic'] as const).flatMap((protocol) =>
    (['photos', 'products'] as const).map((set) => ({
      what: 'Boxes: IoU >= 0.7 on >= 95% of detected rectangles',
      network: 'localiser',
      protocol,
      set,
      // The issue sets this target under the paper protocol; the realistic rows are shown beside it.
      reference: protocol === 'realistic',
      measure: (s: SetScore) => s.localisation?.iouAtLeast07 ?? 0,
      meets: atLeast(0.95),
      show: (v: number, s: SetScore) => `${pct(v)} of ${s.localisation?.detected ?? 0}`,
    })),
  ),
];

/** The targets, each against the best run that measures it. */
export function targetSection(scored: SetScore[]): string[] {
  const lines = [
    '## Targets',
    '',
    'Each target against the best run that measures it (any recipe, a single set or a mixture). Targets are under the paper protocol unless the row says otherwise; box fit under the realistic protocol is shown for reference.',
    '',
  ];
  lines.push('| target | network | protocol | set | measured | met | run |', '|---|---|---|---|---|---|---|');
  for (const t of TARGETS) {
    const candidates = scored.filter(
      (s) => s.run.log.config.network === t.network && s.run.log.config.protocol === t.protocol && s.set === t.set,
    );
    const best = candidates.sort((a, b) => t.measure(b) - t.measure(a))[0];
    const value = best ? t.measure(best) : NaN;
    lines.push(
      `| ${t.what} | ${t.network} | ${t.protocol} | ${t.set} | ${best ? t.show(value, best) : 'not run'} | ` +
        `${best ? (t.meets(value, best) ? 'yes' : t.reference ? 'no (reference, not a target)' : '**no**') : '—'} | ${best ? `${best.run.log.config.recipe}, ${best.run.log.config.data}` : ''} |`,
    );
  }
  return lines;
}

const pct = (v: number | null | undefined) => (v == null ? '—' : `${(100 * v).toFixed(1)}%`);

/** Each run scored on each set of its test split, rebuilt once per distinct config. */
async function scoreRuns(runs: Run[]): Promise<SetScore[]> {
  const testSets = new Map<string, Promise<Examples>>();
  const scored: SetScore[] = [];
  for (const run of runs) {
    const c = run.log.config;
    const key = JSON.stringify([c.protocol, c.framing ?? 'full', c.data, c.seed, c.counts, c.side ?? null]);
    if (!testSets.has(key)) {
      testSets.set(key, rebuildTestSplit(c));
    }
    const test = await testSets.get(key)!;
    const ckpt = await loadCheckpoint(run.dir);
    const spec = atSide(NETWORKS[ckpt.meta.network], test.side);
    const params = paramsFromValues(spec, ckpt.values);
    const ev = evaluate(spec, params, test);
    disposeParams(params);
    for (const [s, set] of test.sets.entries()) {
      const only = test.sets.length > 1 ? (i: number) => test.setIndex[i] === s : undefined;
      scored.push({
        run,
        set,
        count: only ? test.setIndex.filter((v) => v === s).length : test.count,
        quality: quality(test, ev.scores, only),
        localisation: localisation(test, ev, only),
      });
    }
  }

  return scored;
}

/** Table 1: ours against the paper's, per network, recipe and protocol. */
function table1Section(runs: Run[]): string[] {
  const lines: string[] = [];
  lines.push('## Table 1', '');
  lines.push(
    'Test accuracy on photos and cut-outs never seen in training (splits by source file). Time: seconds per epoch per 1000 training images (ours: 2-core CPU, WASM; paper: a 2015 GPU).',
    '',
  );
  const sets = ['binary', 'solid', 'photos', 'products'];
  lines.push(
    '| network | recipe | protocol | ' + sets.map((s) => `${s} (ours / paper)`).join(' | ') + ' | time (ours / paper) |',
  );
  lines.push('|---|---|---|' + sets.map(() => '---|').join('') + '---|');
  const groups = new Map<string, Run[]>();
  for (const r of runs) {
    const k = `${r.log.config.network}|${r.log.config.recipe}|${r.log.config.protocol}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of groups) {
    const [network, recipe, protocol] = k.split('|');
    const paper = PAPER_TABLE_1[network];
    const cell = (set: string) => {
      const r = rs.find((x) => x.log.config.data === set);
      // A model trained on a mixture is scored on each of its sets' test images.
      const mix = rs.find((x) => x.log.config.data.split('+').includes(set) && x.log.test?.perSet?.[set]);
      const ours = r
        ? `${pct(r.log.test!.accuracy)} (loss ${r.log.test!.loss.toFixed(3)})`
        : mix
          ? `${pct(mix.log.test!.perSet[set].accuracy)} (mixture)`
          : 'not run';
      return `${ours} / ${pct(paper?.[set as 'binary'] ?? null)}`;
    };
    const times = rs.map((r) => r.log.epochs.reduce((a, e) => a + e.secondsPer1000, 0) / r.log.epochs.length);
    const time = times.length ? times.reduce((a, b) => a + b, 0) / times.length : NaN;
    lines.push(
      `| ${network} | ${recipe} | ${protocol} | ${sets.map(cell).join(' | ')} | ${time.toFixed(2)} / ${paper?.time.toFixed(2) ?? '—'} |`,
    );
  }
  return lines;
}

/** Each run's accuracy against the Bayes ceiling, with recall, false alarms and boxes. */
function bayesSection(scored: SetScore[], fineTuned: (r: Run) => string): string[] {
  const lines: string[] = [];
  lines.push('', '## Against the Bayes ceiling', '');
  lines.push(
    'A rectangle pasted onto an area that was already pure white changes no pixel: no model can see it. The ceiling is 1 minus the share of such examples in the test set.',
    '',
  );
  lines.push(
    '| run | set | test images | accuracy | Bayes ceiling | below the ceiling | recall on visible rectangles (95% CI) | false positives on clean photos (95% CI) | boxes with IoU >= 0.7 |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const { run, set, count, quality: q, localisation: loc } of scored) {
    const c = run.log.config;
    lines.push(
      `| ${c.network} ${c.recipe}, ${c.data}, ${c.protocol}${fineTuned(run)} | ${set} | ${count} | ${pct(q.accuracy)} | ${pct(q.bayesCeiling)} | ` +
        `${(100 * (q.bayesCeiling - q.accuracy)).toFixed(1)} pts | ${interval(q.recall)} | ${interval(q.falseAlarms)} | ` +
        `${loc ? `${pct(loc.iouAtLeast07)} of ${loc.detected}` : '—'} |`,
    );
  }
  return lines;
}

/** A figure of each run's loss and accuracy per epoch, written under `figures/`. */
async function learningCurves(runs: Run[], outDir: string, runFolder: (r: Run) => string, fineTuned: (r: Run) => string) {
  const lines: string[] = [];
  lines.push('', '## Learning curves', '');
  for (const r of runs) {
    const c = r.log.config;
    const name = `${c.protocol}-${c.data.replace(/\+/g, '_')}-${c.network}-${c.recipe}${c.initFrom ? `-${runFolder(r)}` : ''}`;
    const values = r.log.epochs.flatMap((e) => [
      { epoch: e.epoch, metric: 'loss', split: 'train', value: e.trainLoss },
      { epoch: e.epoch, metric: 'loss', split: 'validation', value: e.valLoss },
      { epoch: e.epoch, metric: 'accuracy', split: 'train', value: e.trainAccuracy },
      { epoch: e.epoch, metric: 'accuracy', split: 'validation', value: e.valAccuracy },
    ]);
    const figure = await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: `${c.network}, ${c.recipe} recipe, ${c.data} (${c.protocol} protocol)${fineTuned(r)}`,
      data: { values },
      facet: { column: { field: 'metric', type: 'nominal', title: null } },
      spec: {
        width: 260,
        height: 160,
        mark: { type: 'line', point: values.length < 80 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'split', type: 'nominal' },
        },
      },
      resolve: { scale: { y: 'independent' } },
    });
    await writeFile(join(outDir, 'figures', `${name}.svg`), figure);
    lines.push(`![${name}](figures/${name}.svg)`, '');
  }

  return lines;
}

/** The paper's "black hole": dead ReLU units over epochs under its own recipe. */
async function deadUnitsSection(runs: Run[], outDir: string): Promise<string[]> {
  const lines: string[] = [];
  const dead = runs.filter((r) => r.log.config.recipe === 'paper' && r.log.config.network !== 'lr');
  if (dead.length) {
    const values = dead.flatMap((r) =>
      r.log.epochs.map((e) => ({
        epoch: e.epoch,
        dead: e.deadFraction ?? 0,
        run: `${r.log.config.network}, ${r.log.config.data}`,
      })),
    );
    await writeFile(
      join(outDir, 'figures', 'dead-units.svg'),
      await svg({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: 'Dead conv units (never active on 256 validation images), paper recipe',
        data: { values },
        width: 520,
        height: 260,
        mark: 'line',
        encoding: {
          x: { field: 'epoch', type: 'quantitative' },
          y: { field: 'dead', type: 'quantitative', axis: { format: '%' }, title: 'dead units' },
          color: { field: 'run', type: 'nominal', legend: { labelLimit: 400 } },
        },
      }),
    );
    lines.push('## The "black hole"', '', '![dead units](figures/dead-units.svg)', '');
    lines.push('| run | dead units, first epoch | dead units, last epoch | final validation accuracy |', '|---|---|---|---|');
    for (const r of dead) {
      const e = r.log.epochs;
      lines.push(
        `| ${r.log.config.network}, ${r.log.config.data} | ${pct(e[0].deadFraction)} | ${pct(e.at(-1)!.deadFraction)} | ${pct(e.at(-1)!.valAccuracy)} |`,
      );
    }
    // Stuck means what the paper saw: validation accuracy at chance for the last ten epochs.
    const stuck = dead.filter((r) => r.log.epochs.slice(-10).every((e) => Math.abs(e.valAccuracy - 0.5) < 0.05));
    const relu = dead.filter((r) => r.log.config.network === 'cnn-relu');
    lines.push(
      '',
      stuck.length
        ? `Stuck at chance (validation accuracy within 5 points of 50% for the last ten epochs): ${stuck.map((r) => `${r.log.config.network} on ${r.log.config.data}`).join(', ')}.`
        : `No run got stuck at 50%: the ${relu.length} ReLU run(s) under the paper's recipe kept learning. With Glorot-uniform ` +
            'weights, zero biases and plain SGD at 0.001 the weights move slowly and few units die; the black hole needs a step ' +
            'that pushes every unit negative at once, which this recipe did not produce on these data.',
    );
  }
  return lines;
}

export async function writeReport(runsRoot: string, outDir: string): Promise<{ runs: number; file: string }> {
  const runs = await findRuns(runsRoot);
  // Fine-tuned runs share their config with the run they started from: name them by their folder.
  const runFolder = (r: Run) => relative(runsRoot, r.dir).split(/[\\/]/)[0];
  const fineTuned = (r: Run) => (r.log.config.initFrom ? ` (fine-tuned, ${runFolder(r)})` : '');
  await mkdir(join(outDir, 'figures'), { recursive: true });
  const scored = await scoreRuns(runs);
  const lines: string[] = [
    '# blankspot: reproducing Table 1 of Churchley et al. (2015), and beyond',
    '',
    `Generated by \`blankspot report\` from ${runs.length} runs under \`${relative(outDir, runsRoot) || runsRoot}\`.`,
    '',
    ...table1Section(runs),
    ...bayesSection(scored, fineTuned),
    '',
    ...targetSection(scored),
    ...(await learningCurves(runs, outDir, runFolder, fineTuned)),
    ...(await deadUnitsSection(runs, outDir)),
  ];
  const file = join(outDir, 'README.md');
  await writeFile(file, lines.join('\n') + '\n');
  return { runs: runs.length, file };
}
