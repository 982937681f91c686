/**
 * Thresholds chosen on real files: a catalogue of uploads (JPEG, PNG or WebP) with a `labels.csv`
 * saying which are damaged, each read by the same pipeline the API runs (core's `modelInput`, sharp
 * for whatever the DCT-domain reader does not cover). Generator-made validation images can sit on the
 * other side of the model's decision boundary from real files: a localiser-wide fine-tuned on
 * generator version 4, its thresholds chosen on that generator's validation split for 1% false alarms,
 * flagged 2.1% of the clean products of a catalogue of real JPEG files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BlankspotError,
  INPUT_SIZE,
  LIMITS,
  batchOf,
  modelInput,
  type Framing,
  type ImageDecoder,
  type Views,
  type CloserLook,
  withCloserLook,
} from '@blankspot/core';
import { sharpDecoder } from '@blankspot/runtime-node';
import { viewScores } from './export.js';
import { operatingPointFor, type OperatingPoint } from './operating-point.js';

export interface CatalogueRow {
  file: string;
  /** What the photo is (`product`, `natural`, ...): the false-alarm target applies to one kind. */
  kind: string;
  damaged: boolean;
}

/** Rows of `labels.csv`: a header with at least `file`, `kind` and `damaged` (1 or 0), then one row per image. */
export async function readCatalogue(dir: string): Promise<CatalogueRow[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'labels.csv'), 'utf8');
  } catch (e) {
    throw new BlankspotError('BAD_REQUEST', `no labels.csv in ${dir}`, { cause: e });
  }
  const [header, ...lines] = text.trim().split(/\r?\n/);
  const columns = header.split(',');
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new BlankspotError('BAD_REQUEST', `${dir}/labels.csv has no "${name}" column`);
    return i;
  };
  const [file, kind, damaged] = [at('file'), at('kind'), at('damaged')];
  return lines.map((line, n) => {
    const cells = line.split(',');
    if (cells[damaged] !== '0' && cells[damaged] !== '1') {
      throw new BlankspotError('BAD_REQUEST', `${dir}/labels.csv line ${n + 2}: damaged must be 0 or 1`);
    }
    return { file: cells[file], kind: cells[kind], damaged: cells[damaged] === '1' };
  });
}

/** Each catalogue image's anomaly score from an ONNX model, its input made as the API makes it. */
export async function catalogueScores(
  model: Uint8Array,
  dir: string,
  framing: Framing,
  views: Views = 'single',
  inputSize = INPUT_SIZE,
  closerLook?: CloserLook,
): Promise<Array<CatalogueRow & { score: number }>> {
  const rows = await readCatalogue(dir);
  const first = await lookScores(model, dir, rows, framing, views, inputSize);
  // The check's rule, with thresholds still to be chosen: the closer look for every photo from its start.
  const chosen = await withCloserLook(
    { closerLook },
    Infinity,
    Array.from(first, (score) => ({ score })),
    async (suspect) => {
      const closer = await lookScores(
        model,
        dir,
        suspect.map((i) => rows[i]),
        framing,
        closerLook?.views ?? views,
        closerLook!.inputSize,
      );
      return Array.from(closer, (score) => ({ score }));
    },
  );
  return rows.map((row, i) => ({ ...row, score: chosen[i].look.score }));
}

/** Each photo's score on one look: of every look the check takes (the content's frame, or each object's), the highest, as checkImage scores it. */
async function lookScores(
  model: Uint8Array,
  dir: string,
  rows: readonly CatalogueRow[],
  framing: Framing,
  views: Views,
  inputSize: number,
): Promise<Float32Array> {
  // Decoding only; the DCT-domain reader runs in this thread (no worker pool to shut down).
  const decoder: ImageDecoder = { decode: sharpDecoder(LIMITS).decode };
  const looks: Float32Array[] = [];
  const owner: number[] = [];
  for (const [i, row] of rows.entries()) {
    const made = await modelInput(new Uint8Array(await readFile(join(dir, row.file))), { framing, inputSize }, decoder, LIMITS);
    for (const look of made.objects.length ? made.objects : [made]) {
      looks.push(look.input);
      owner.push(i);
    }
  }
  const perLook = await viewScores(model, batchOf(looks), views, inputSize);
  const scores = new Float32Array(rows.length).fill(-Infinity);
  owner.forEach((i, k) => (scores[i] = Math.max(scores[i], perLook[k])));
  return scores;
}

/**
 * Thresholds for a false-alarm target on the clean images of one kind (3x the target at `high`, a
 * third at `low`), with the false alarms and the recall on damaged images of that kind they give there.
 */
export function operatingPointFromScores(
  rows: ReadonlyArray<CatalogueRow & { score: number }>,
  target: number,
  kind: string,
  description: string,
): OperatingPoint {
  const ofKind = rows.filter((r) => r.kind === kind);
  const clean = ofKind.filter((r) => !r.damaged).map((r) => r.score);
  const damaged = ofKind.filter((r) => r.damaged).map((r) => r.score);
  if (clean.length === 0 || damaged.length === 0) {
    throw new BlankspotError('BAD_REQUEST', `the catalogue needs clean and damaged images of kind "${kind}"`);
  }
  const share = (scores: number[], t: number) => scores.filter((v) => v >= t).length / scores.length;
  return operatingPointFor(
    clean,
    target,
    (t) => ({ falseAlarms: share(clean, t), recall: share(damaged, t) }),
    `${clean.length} clean ${kind} images of ${description} (real files, read as the API reads them)`,
  );
}
