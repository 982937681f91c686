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
  SENSITIVITIES,
  anomalyScores,
  modelInput,
  type Framing,
  type ImageDecoder,
  type Sensitivity,
  type Views,
  runModel,
} from '@blankspot/core';
import { createNodeSession, sharpDecoder } from '@blankspot/edge/node/adapter';
import { thresholdForFalseAlarms } from '@blankspot/training';
import type { OperatingPoint } from './export.js';

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
): Promise<Array<CatalogueRow & { score: number }>> {
  const rows = await readCatalogue(dir);
  // Decoding only; the DCT-domain reader runs in this thread (no worker pool to shut down).
  const decoder: ImageDecoder = { decode: sharpDecoder(LIMITS).decode };
  const session = await createNodeSession(model);
  const out: Array<CatalogueRow & { score: number }> = [];
  const batch = 64;
  for (let start = 0; start < rows.length; start += batch) {
    const part = rows.slice(start, start + batch);
    const inputs = new Float32Array(part.length * INPUT_SIZE * INPUT_SIZE);
    for (const [i, row] of part.entries()) {
      const bytes = new Uint8Array(await readFile(join(dir, row.file)));
      const made = await modelInput(bytes, { framing }, decoder, LIMITS);
      inputs.set(made.input, i * INPUT_SIZE * INPUT_SIZE);
    }
    const scores = anomalyScores((await runModel(session, inputs, part.length, views)).prob);
    part.forEach((row, i) => out.push({ ...row, score: scores[i] }));
  }
  return out;
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
  const targets = { high: Math.min(1, 3 * target), balanced: target, low: target / 3 };
  const thresholds = {} as Record<Sensitivity, number>;
  const falseAlarms = {} as Record<Sensitivity, number>;
  const recall = {} as Record<Sensitivity, number>;
  for (const s of SENSITIVITIES) {
    const t = thresholdForFalseAlarms(clean, targets[s]);
    thresholds[s] = t;
    falseAlarms[s] = clean.filter((v) => v >= t).length / clean.length;
    recall[s] = damaged.filter((v) => v >= t).length / damaged.length;
  }
  return {
    thresholds,
    falseAlarmTargets: targets,
    chosenOn: `${clean.length} clean ${kind} images of ${description} (real files, read as the API reads them)`,
    falseAlarms,
    recall,
  };
}
