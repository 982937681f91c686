/**
 * Judging the shipped model where sellers are: a catalogue of real JPEG files composed by an
 * independent compositor (test/uploads/compose.py: OpenCV, not the training generator) from the
 * photos and cut-outs the models' seed held out, posted one by one to the real API.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { iou, type Box } from '@blankspot/core';
import { heldOutSources, reliability, Rng, wilson, type Rate, type ReliabilityBin } from '@blankspot/training';

const COMPOSER = fileURLToPath(new URL('../uploads/compose.py', import.meta.url));
const BOX_ORACLE = fileURLToPath(new URL('../uploads/box_oracle.py', import.meta.url));
/** Debian's Python, where python3-opencv and python3-numpy are installed (.ci/run installs them). */
const PYTHON = process.env.BLANKSPOT_PYTHON ?? '/usr/bin/python3';

export interface UploadLabel {
  file: string;
  kind: 'product' | 'natural';
  damaged: boolean;
  box: { x: number; y: number; width: number; height: number } | null;
  /** The photo or cut-out(s) it was composed from, "+" between two (empty in catalogues from before). */
  source: string;
  /** Damaged only: the length of the rectangle's outline over content, as a share of the photo's longer side. */
  cut: number | null;
  /**
   * Damaged only: how many of the rectangle's sides run over content (0-4), the cut's shape: 1 an end sliced
   * off flat, 2 a corner, 3 a notch, 4 a hole. Null in catalogues from before.
   */
  sides: number | null;
  /** Products: how the catalogue laid it out (white, padded, padded-photo, collage); natural photos: natural. */
  layout: string;
}

/**
 * Writes `products` product photos and `photos` natural photos (half of each damaged) into `dir`, from
 * the sources the model's seed held out: its test split (default) or its validation split.
 */
export async function composeUploads(
  dir: string,
  counts: {
    products: number;
    photos: number;
    seed: number;
    modelSeed: string;
    split?: 'test' | 'val';
    /** `all`: products in every layout the compositor makes; `white` (default): cut-outs on white only. */
    layouts?: 'white' | 'all';
  },
): Promise<UploadLabel[]> {
  await mkdir(dir, { recursive: true });
  const sources = await heldOutSources(counts.modelSeed, {}, counts.split);
  const sourcesFile = join(dir, 'sources.json');
  await writeFile(sourcesFile, JSON.stringify(sources));
  await promisify(execFile)(
    PYTHON,
    [
      COMPOSER,
      sourcesFile,
      dir,
      '--products',
      String(counts.products),
      '--photos',
      String(counts.photos),
      '--seed',
      String(counts.seed),
      '--layouts',
      counts.layouts ?? 'white',
    ],
    { maxBuffer: 16 << 20 },
  );
  return readLabels(dir);
}

export async function readLabels(dir: string): Promise<UploadLabel[]> {
  const [, ...rows] = (await readFile(join(dir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  return rows.map((row) => {
    const [file, kind, damaged, x, y, width, height, source = '', , cut = '', sides = '', layout = ''] = row.split(',');
    return {
      file,
      kind: kind as UploadLabel['kind'],
      damaged: damaged === '1',
      box: damaged === '1' ? { x: Number(x), y: Number(y), width: Number(width), height: Number(height) } : null,
      source,
      cut: cut === '' ? null : Number(cut),
      sides: sides === '' ? null : Number(sides),
      layout: layout || (kind === 'product' ? 'white' : 'natural'),
    };
  });
}

/** What the oracle box reader (test/uploads/box_oracle.py) makes of one damaged photo. */
export interface OracleBox {
  /** Its box has IoU >= 0.7 with the rectangle. */
  fits: boolean;
  /** The share of the rectangles that could have made the photo its box fits. */
  chance: number;
}

/**
 * For every damaged photo of a catalogue, whether a reader that read every side of the rectangle that
 * shows exactly, and guessed the sides on white as well as their sizes allow, would box it: what a box
 * reader misses beyond that is edges it did not read. Keyed by file name.
 */
export async function oracleBoxes(dir: string): Promise<Map<string, OracleBox>> {
  const out = join(dir, 'oracle-boxes.json');
  await promisify(execFile)(PYTHON, [BOX_ORACLE, dir, '--json', out], { maxBuffer: 16 << 20 });
  const rows = JSON.parse(await readFile(out, 'utf8')) as Array<OracleBox & { file: string }>;
  return new Map(rows.map((r) => [r.file, { fits: r.fits, chance: r.chance }]));
}

export interface UploadScores {
  kind: string;
  falseAlarms: Rate;
  recall: Rate;
  /** Of the caught rectangles, those whose box has IoU >= 0.7 with the true one. */
  boxes: Rate;
  /** Of the same caught rectangles, those the oracle reader boxes (see oracleBoxes); null without it. */
  oracleBoxes: Rate | null;
  errors: number;
  /**
   * 95% intervals with the catalogue's objects resampled (see objectInterval): a catalogue's photos of
   * one object pass or fail together, so these are wider than the per-photo (Wilson) ones, and honest.
   */
  byObject: { falseAlarms: Interval; recall: Interval; objects: number };
  /** Clean photos' objects with a false alarm, most first: where the false alarms come from. */
  falseAlarmObjects: Array<{ object: string; falseAlarms: number; photos: number }>;
  /** Recall by how long the rectangle's cut through content is (CUT_BINS, shares of the longer side). */
  recallByCut: Array<{ from: number; to: number; recall: Rate }>;
  /** Recall by the cut's shape: how many of the rectangle's sides run over content (0-4; empty for old catalogues). */
  recallBySides: Array<{ sides: number; recall: Rate }>;
  /** False alarms and recall by the kind of object a photo shows (kindOf), most photos first. */
  byKind: Array<{ kind: string; falseAlarms: Rate; recall: Rate }>;
  /**
   * How well the answers' scores match the share of damaged photos among those that get them (a
   * calibrated model's do, on a catalogue as balanced as the one it was calibrated on).
   */
  reliability: { bins: ReliabilityBin[]; ece: number };
}

/**
 * The kind of object a photo shows, from its first source's name: a cut-out's category (`animal_bear.png`:
 * animal), `person` for people of any source, `render` for the 3D object renders (data/objects, named by
 * what they show), `photo` for natural photos.
 */
export function kindOf(label: Pick<UploadLabel, 'source' | 'kind' | 'layout'>): string {
  const source = label.source.split('+')[0] ?? '';
  if (/(^|[-_])(person|man|woman|people|boy|girl|child|fireman|paratrooper)([-_.]|$)/i.test(source)) return 'person';
  if (label.layout === 'padded-photo' || label.kind === 'natural') return 'photo';
  if (source.endsWith('.webp')) return 'render';
  const prefix = /^([a-z]+)_/.exec(source)?.[1];
  return prefix ?? 'other';
}

export interface Interval {
  low: number;
  high: number;
}

/** Bins of a rectangle's visible cut (its outline over content) as a share of the photo's longer side. */
export const CUT_BINS = [0, 0.1, 0.2, 0.3, 0.5, Infinity] as const;

/** The object a photo is clustered under: its first-drawn source (the only one for four products in five). */
const objectOf = (l: UploadLabel) => l.source.split('+')[0] || l.file;

/**
 * A percentile bootstrap over objects: `resamples` catalogues, each drawing the objects with replacement
 * and taking all of a drawn object's photos; the 2.5th and 97.5th percentiles of the pooled rate.
 * Deterministic (a fixed seed), so a report does not move between runs.
 */
export function objectInterval(
  groups: ReadonlyArray<{ hits: number; total: number }>,
  resamples = 2000,
  seed = 'objects',
): Interval {
  if (groups.length === 0) return { low: 0, high: 1 };
  const rng = new Rng(seed);
  const rates: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let hits = 0;
    let total = 0;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[rng.int(groups.length)];
      hits += g.hits;
      total += g.total;
    }
    rates.push(total > 0 ? hits / total : 0);
  }
  rates.sort((a, b) => a - b);
  return { low: rates[Math.floor(resamples * 0.025)], high: rates[Math.min(resamples - 1, Math.floor(resamples * 0.975))] };
}

/** Per object, how many of `idx` hit (by `hit`) out of how many. */
function byObject(labels: UploadLabel[], idx: number[], hit: (i: number) => boolean) {
  const groups = new Map<string, { hits: number; total: number }>();
  for (const i of idx) {
    const g = groups.get(objectOf(labels[i])) ?? { hits: 0, total: 0 };
    g.total++;
    if (hit(i)) g.hits++;
    groups.set(objectOf(labels[i]), g);
  }
  return groups;
}

/** Posts every file to `POST /v1/check` (a few at a time) and scores the answers per kind of photo. */
export async function judgeUploads(
  apiUrl: string,
  dir: string,
  labels: UploadLabel[],
  options: { sensitivity?: string; model?: string; concurrency?: number; oracle?: Map<string, OracleBox> } = {},
): Promise<UploadScores[]> {
  const query = new URLSearchParams();
  if (options.sensitivity) query.set('sensitivity', options.sensitivity);
  if (options.model) query.set('model', options.model);
  const url = `${apiUrl}/v1/check${query.size ? `?${query}` : ''}`;
  const answers: ({ flagged: boolean; score: number; box: Box | null } | null)[] = new Array(labels.length).fill(null);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < labels.length; i = next++) {
      const body = await readFile(join(dir, labels[i].file));
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });
      answers[i] = res.ok ? ((await res.json()) as { flagged: boolean; score: number; box: Box | null }) : null;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  const out: UploadScores[] = [];
  // Products as a whole, then each layout of theirs when the catalogue has several.
  const productLayouts = [...new Set(labels.filter((l) => l.kind === 'product').map((l) => l.layout))];
  const groups: Array<[string, (l: UploadLabel) => boolean]> = [
    ['product', (l) => l.kind === 'product'],
    ...(productLayouts.length > 1
      ? productLayouts.map((layout): [string, (l: UploadLabel) => boolean] => [
          `product: ${layout}`,
          (l) => l.kind === 'product' && l.layout === layout,
        ])
      : []),
    ['natural', (l) => l.kind === 'natural'],
    ['all', () => true],
  ];
  for (const [kind, inGroup] of groups) {
    const idx = labels.map((_, i) => i).filter((i) => inGroup(labels[i]));
    const clean = idx.filter((i) => !labels[i].damaged && answers[i]);
    const damaged = idx.filter((i) => labels[i].damaged && answers[i]);
    const caught = damaged.filter((i) => answers[i]!.flagged);
    const goodBoxes = caught.filter((i) => answers[i]!.box != null && iou(answers[i]!.box!, labels[i].box!) >= 0.7);
    const flagged = (i: number) => answers[i]!.flagged;
    const cleanObjects = byObject(labels, clean, flagged);
    const damagedObjects = byObject(labels, damaged, flagged);
    out.push({
      kind,
      falseAlarms: wilson(clean.filter(flagged).length, clean.length),
      recall: wilson(caught.length, damaged.length),
      boxes: wilson(goodBoxes.length, caught.length),
      oracleBoxes: options.oracle
        ? wilson(caught.filter((i) => options.oracle!.get(labels[i].file)?.fits).length, caught.length)
        : null,
      errors: idx.filter((i) => answers[i] == null).length,
      byObject: {
        falseAlarms: objectInterval([...cleanObjects.values()]),
        recall: objectInterval([...damagedObjects.values()]),
        objects: new Set(idx.map((i) => objectOf(labels[i]))).size,
      },
      falseAlarmObjects: [...cleanObjects]
        .filter(([, g]) => g.hits > 0)
        .map(([object, g]) => ({ object, falseAlarms: g.hits, photos: g.total }))
        .sort((a, b) => b.falseAlarms - a.falseAlarms || a.object.localeCompare(b.object)),
      recallByCut: CUT_BINS.slice(0, -1).map((from, b) => {
        const to = CUT_BINS[b + 1];
        const inBin = damaged.filter((i) => labels[i].cut != null && labels[i].cut! >= from && labels[i].cut! < to);
        return { from, to, recall: wilson(inBin.filter(flagged).length, inBin.length) };
      }),
      byKind: [...new Set(idx.map((i) => kindOf(labels[i])))]
        .map((k) => {
          const inKind = (i: number) => kindOf(labels[i]) === k;
          const kindClean = clean.filter(inKind);
          const kindDamaged = damaged.filter(inKind);
          return {
            kind: k,
            falseAlarms: wilson(kindClean.filter(flagged).length, kindClean.length),
            recall: wilson(kindDamaged.filter(flagged).length, kindDamaged.length),
          };
        })
        .sort((a, b) => b.falseAlarms.total + b.recall.total - (a.falseAlarms.total + a.recall.total)),
      reliability: reliability(
        [...clean, ...damaged].map((i) => answers[i]!.score),
        [...clean, ...damaged].map((i) => (labels[i].damaged ? 1 : 0)),
      ),
      recallBySides: CUT_SHAPES.map((_, n) => {
        const withSides = damaged.filter((i) => labels[i].sides === n);
        return { sides: n, recall: wilson(withSides.filter(flagged).length, withSides.length) };
      }).filter((g) => g.recall.total > 0),
    });
  }
  return out;
}

const pct = (r: Rate) =>
  `${(100 * r.rate).toFixed(1)}% (${r.hits}/${r.total}; 95% CI ${(100 * r.low).toFixed(1)}-${(100 * r.high).toFixed(1)}%)`;

const span = (i: Interval) => `${(100 * i.low).toFixed(1)}-${(100 * i.high).toFixed(1)}%`;

/** A cut's shape by how many of the rectangle's sides run over content (the index), as the tables name it. */
const CUT_SHAPES = ['0 (under, not along)', '1 (an end cut flat)', '2 (a corner)', '3 (a notch)', '4 (a hole)'] as const;

/** A cell of the tables: rate and count, or '-' for an empty group. */
const rateCell = (r: Rate | undefined) => (r?.total ? `${(100 * r.rate).toFixed(1)}% (${r.hits}/${r.total})` : '-');

export function uploadsTable(rows: UploadScores[], title: string): string {
  const lines = [
    `| ${title} | false alarms on clean photos | recall on damage | boxes with IoU >= 0.7 (of caught) | an oracle reader's (of the same) | errors |`,
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.kind} | ${pct(r.falseAlarms)} | ${pct(r.recall)} | ${pct(r.boxes)} | ${rateCell(r.oracleBoxes ?? undefined)} | ${r.errors} |`,
    ),
    '',
    `| ${title}, objects resampled | objects | false alarms, 95% CI | recall, 95% CI | false alarms from (object: alarms/clean photos) |`,
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.kind} | ${r.byObject.objects} | ${span(r.byObject.falseAlarms)} | ${span(r.byObject.recall)} | ${
          r.falseAlarmObjects
            .slice(0, 4)
            .map((o) => `${o.object}: ${o.falseAlarms}/${o.photos}`)
            .join(', ') || '-'
        }${r.falseAlarmObjects.length > 4 ? ` and ${r.falseAlarmObjects.length - 4} more` : ''} |`,
    ),
    '',
    `| ${title}: recall by the cut through content (share of the longer side) | ${CUT_BINS.slice(0, -1)
      .map((from, b) => (CUT_BINS[b + 1] === Infinity ? `>= ${from}` : `${from}-${CUT_BINS[b + 1]}`))
      .join(' | ')} |`,
    `|---|${CUT_BINS.slice(0, -1)
      .map(() => '---')
      .join('|')}|`,
    ...rows.map((r) => `| ${r.kind} | ${r.recallByCut.map((c) => rateCell(c.recall)).join(' | ')} |`),
  ];
  if (rows.some((r) => r.recallBySides.length)) {
    lines.push(
      '',
      `| ${title}: recall by the cut's shape (sides of the rectangle over content) | ${CUT_SHAPES.join(' | ')} |`,
      `|---|${CUT_SHAPES.map(() => '---').join('|')}|`,
      ...rows.map(
        (r) =>
          `| ${r.kind} | ${CUT_SHAPES.map((_, n) => rateCell(r.recallBySides.find((g) => g.sides === n)?.recall)).join(' | ')} |`,
      ),
    );
  }
  const products = rows.find((r) => r.kind === 'product');
  if (products) {
    const bins = products.reliability.bins;
    lines.push(
      '',
      `| ${title}: products, reliability of the score (expected calibration error ${products.reliability.ece.toFixed(3)}) | ${bins
        .map((b) => `${b.from.toFixed(1)}-${b.to.toFixed(1)}`)
        .join(' | ')} |`,
      `|---|${bins.map(() => '---').join('|')}|`,
      `| photos | ${bins.map((b) => b.count).join(' | ')} |`,
      `| mean score | ${bins.map((b) => (b.count ? b.meanScore.toFixed(3) : '-')).join(' | ')} |`,
      `| share damaged | ${bins.map((b) => (b.count ? b.damaged.toFixed(3) : '-')).join(' | ')} |`,
    );
  }
  if (products && products.byKind.length > 1) {
    lines.push(
      '',
      `| ${title}: products by kind of object | clean photos | false alarms | damaged photos | recall |`,
      '|---|---|---|---|---|',
      ...products.byKind.map(
        (k) => `| ${k.kind} | ${k.falseAlarms.total} | ${rateCell(k.falseAlarms)} | ${k.recall.total} | ${rateCell(k.recall)} |`,
      ),
    );
  }
  return lines.join('\n');
}
