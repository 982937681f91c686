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
import { iou } from '@blankspot/core';
import { heldOutSources, wilson, type Rate } from '@blankspot/training';

const COMPOSER = fileURLToPath(new URL('../uploads/compose.py', import.meta.url));
/** Debian's Python, where python3-opencv and python3-numpy are installed (.ci/run installs them). */
const PYTHON = process.env.BLANKSPOT_PYTHON ?? '/usr/bin/python3';

export interface UploadLabel {
  file: string;
  kind: 'product' | 'natural';
  damaged: boolean;
  box: { x: number; y: number; width: number; height: number } | null;
}

/**
 * Writes `products` product photos and `photos` natural photos (half of each damaged) into `dir`, from
 * the sources the model's seed held out: its test split (default) or its validation split.
 */
export async function composeUploads(
  dir: string,
  counts: { products: number; photos: number; seed: number; modelSeed: string; split?: 'test' | 'val' },
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
    ],
    { maxBuffer: 16 << 20 },
  );
  return readLabels(dir);
}

export async function readLabels(dir: string): Promise<UploadLabel[]> {
  const [, ...rows] = (await readFile(join(dir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  return rows.map((row) => {
    const [file, kind, damaged, x, y, width, height] = row.split(',');
    return {
      file,
      kind: kind as UploadLabel['kind'],
      damaged: damaged === '1',
      box: damaged === '1' ? { x: Number(x), y: Number(y), width: Number(width), height: Number(height) } : null,
    };
  });
}

type Box = NonNullable<UploadLabel['box']>;
const asInputBox = (b: Box) => ({ x: b.x, y: b.y, w: b.width, h: b.height });

export interface UploadScores {
  kind: string;
  falseAlarms: Rate;
  recall: Rate;
  /** Of the caught rectangles, those whose box has IoU >= 0.7 with the true one. */
  boxes: Rate;
  errors: number;
}

/** Posts every file to `POST /v1/check` (a few at a time) and scores the answers per kind of photo. */
export async function judgeUploads(
  apiUrl: string,
  dir: string,
  labels: UploadLabel[],
  options: { sensitivity?: string; model?: string; concurrency?: number } = {},
): Promise<UploadScores[]> {
  const query = new URLSearchParams();
  if (options.sensitivity) query.set('sensitivity', options.sensitivity);
  if (options.model) query.set('model', options.model);
  const url = `${apiUrl}/v1/check${query.size ? `?${query}` : ''}`;
  const answers: ({ flagged: boolean; box: Box | null } | null)[] = new Array(labels.length).fill(null);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < labels.length; i = next++) {
      const body = await readFile(join(dir, labels[i].file));
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });
      answers[i] = res.ok ? ((await res.json()) as { flagged: boolean; box: Box | null }) : null;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  const out: UploadScores[] = [];
  for (const kind of ['product', 'natural', 'all']) {
    const idx = labels.map((_, i) => i).filter((i) => kind === 'all' || labels[i].kind === kind);
    const clean = idx.filter((i) => !labels[i].damaged && answers[i]);
    const damaged = idx.filter((i) => labels[i].damaged && answers[i]);
    const caught = damaged.filter((i) => answers[i]!.flagged);
    const goodBoxes = caught.filter(
      (i) => answers[i]!.box != null && iou(asInputBox(answers[i]!.box!), asInputBox(labels[i].box!)) >= 0.7,
    );
    out.push({
      kind,
      falseAlarms: wilson(clean.filter((i) => answers[i]!.flagged).length, clean.length),
      recall: wilson(caught.length, damaged.length),
      boxes: wilson(goodBoxes.length, caught.length),
      errors: idx.filter((i) => answers[i] == null).length,
    });
  }
  return out;
}

const pct = (r: Rate) =>
  `${(100 * r.rate).toFixed(1)}% (${r.hits}/${r.total}; 95% CI ${(100 * r.low).toFixed(1)}-${(100 * r.high).toFixed(1)}%)`;

export function uploadsTable(rows: UploadScores[], title: string): string {
  return [
    `| ${title} | false alarms on clean photos | recall on damage | boxes with IoU >= 0.7 (of caught) | errors |`,
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.kind} | ${pct(r.falseAlarms)} | ${pct(r.recall)} | ${pct(r.boxes)} | ${r.errors} |`),
  ].join('\n');
}
