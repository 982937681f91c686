/**
 * The default model on real JPEG uploads it never saw, composed by the independent compositor
 * (OpenCV, test/uploads/compose.py) from the photos and cut-outs its seed held out, posted through
 * the real API. A small catalogue here; `npm run eval:uploads` runs the large one for the README.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '@blankspot/core';
import { startNodeServer, type NodeServer } from '@blankspot/edge/node';
import { composeUploads, judgeUploads, oracleBoxes, type UploadLabel, type UploadScores } from './uploads.js';

// The gate: what the shipped default measures on this catalogue (seed 101: 200 products, 50 per layout, and
// 100 natural photos, half of each damaged), less its sampling margin, so that a worse model fails here.
// The figures it measured, and the large run's, are in docs/evaluation.md (`npm run eval:uploads`).
// localiser-objects 1.2.0 at balanced: products 1/100 false alarms and 85/100 caught (boxes 74/85), natural photos
// 0/50 and 50/50, all caught rectangles boxed 124/135; its calibrated score's expected calibration error on the
// products 0.049. Bounds: about the 95% (Wilson) interval's far end.
const PRODUCT_FALSE_ALARMS_MAX = 4;
const NATURAL_FALSE_ALARMS_MAX = 1;
const PRODUCT_RECALL_MIN = 0.76;
const NATURAL_RECALL_MIN = 0.96;
const BOXES_MIN = 0.86;
const PRODUCT_BOXES_MIN = 0.78;
const PRODUCT_CALIBRATION_ERROR_MAX = 0.08;

let dir: string;
let server: NodeServer;
let labels: UploadLabel[];

beforeAll(async () => {
  const manifest = parseManifest(
    JSON.parse(await readFile(fileURLToPath(new URL('../../models/manifest.json', import.meta.url)), 'utf8')),
  );
  const modelSeed = manifest.models.find((m) => m.name === manifest.default)!.seed!;
  dir = await mkdtemp(join(tmpdir(), 'blankspot-uploads-'));
  labels = await composeUploads(dir, { products: 200, photos: 100, seed: 101, modelSeed, layouts: 'all' });
  server = await startNodeServer({ port: 0, config: { maxQueue: 1000 } });
}, 240_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const row = (rows: UploadScores[], kind: string) => rows.find((r) => r.kind === kind)!;

/** The hits or photos of a split of the damage, added up. */
const sumOf = (groups: ReadonlyArray<{ recall: { hits: number; total: number } }>, key: 'hits' | 'total') =>
  groups.reduce((a, g) => a + g.recall[key], 0);

describe('held-out uploads through the API', () => {
  it('composes what it says: every layout in turn, half of each kind and layout damaged', () => {
    for (const kind of ['product', 'natural'] as const) {
      const of = labels.filter((l) => l.kind === kind);
      expect(of.filter((l) => l.damaged).length).toBe(of.length / 2);
    }
    for (const layout of ['white', 'padded', 'padded-photo', 'collage']) {
      const of = labels.filter((l) => l.kind === 'product' && l.layout === layout);
      expect(of, layout).toHaveLength(50);
      expect(
        of.filter((l) => l.damaged),
        layout,
      ).toHaveLength(25);
    }
    // Collages show several objects; the renders of data/objects are among the products' sources.
    expect(labels.filter((l) => l.layout === 'collage').every((l) => l.source.includes('+'))).toBe(true);
    expect(labels.some((l) => l.source.endsWith('.webp'))).toBe(true);
    expect(labels).toHaveLength(300);
    for (const l of labels) {
      expect(l.source).toMatch(/\.(png|jpe?g|webp)(\+|$)/i);
      // A damaged photo's rectangle crosses content somewhere along its outline (a tenth of it hides content).
      if (l.damaged) {
        expect(l.cut).toBeGreaterThan(0);
        expect([0, 1, 2, 3, 4]).toContain(l.sides);
      } else {
        expect(l.cut).toBeNull();
        expect(l.sides).toBeNull();
      }
    }
  });

  it('keeps false alarms on clean photos low and catches the damage that shows, with boxes that fit', async () => {
    const oracle = await oracleBoxes(dir);
    expect(oracle.size).toBe(labels.filter((l) => l.damaged).length);
    const rows = await judgeUploads(server.url, dir, labels, { oracle });
    for (const r of rows) expect(r.errors, r.kind).toBe(0);
    // Bounds from this catalogue (seed 101) with the shipped default; the README has the large run.
    expect(row(rows, 'product').falseAlarms.hits).toBeLessThanOrEqual(PRODUCT_FALSE_ALARMS_MAX);
    expect(row(rows, 'natural').falseAlarms.hits).toBeLessThanOrEqual(NATURAL_FALSE_ALARMS_MAX);
    expect(row(rows, 'product').recall.rate).toBeGreaterThanOrEqual(PRODUCT_RECALL_MIN);
    expect(row(rows, 'natural').recall.rate).toBeGreaterThanOrEqual(NATURAL_RECALL_MIN);
    expect(row(rows, 'all').boxes.rate).toBeGreaterThanOrEqual(BOXES_MIN);
    expect(row(rows, 'product').boxes.rate).toBeGreaterThanOrEqual(PRODUCT_BOXES_MIN);
    // The score means what it says: among products given about p, about p are damaged (the catalogue is half damaged).
    expect(row(rows, 'product').reliability.ece).toBeLessThanOrEqual(PRODUCT_CALIBRATION_ERROR_MAX);
    expect(row(rows, 'product').reliability.bins.reduce((n, b) => n + b.count, 0)).toBe(200);
    // A reader that read every side that shows exactly (box_oracle.py) boxes every natural photo, which
    // shows all four; on products some sides lie on white, where even it guesses wrong. The API's reader
    // reads less than it and should not do much better.
    expect(row(rows, 'natural').oracleBoxes!.rate).toBe(1);
    expect(row(rows, 'product').oracleBoxes!.rate).toBeLessThan(1);
    expect(row(rows, 'product').boxes.rate).toBeLessThanOrEqual(row(rows, 'product').oracleBoxes!.rate + 0.05);
    for (const r of rows) {
      // Where the false alarms come from adds up to them; every damaged photo is in one bin of its cut.
      expect(
        r.falseAlarmObjects.reduce((a, o) => a + o.falseAlarms, 0),
        r.kind,
      ).toBe(r.falseAlarms.hits);
      // ...and in one group of its cut's shape.
      for (const groups of [r.recallByCut, r.recallBySides]) {
        expect(sumOf(groups, 'total'), r.kind).toBe(r.recall.total);
        expect(sumOf(groups, 'hits'), r.kind).toBe(r.recall.hits);
      }
      expect(r.byObject.falseAlarms.low).toBeLessThanOrEqual(r.falseAlarms.rate);
      expect(r.byObject.falseAlarms.high).toBeGreaterThanOrEqual(r.falseAlarms.rate);
      expect(r.byObject.recall.low).toBeLessThanOrEqual(r.recall.rate);
      expect(r.byObject.recall.high).toBeGreaterThanOrEqual(r.recall.rate);
    }
    // Products are drawn from the test split's cut-outs, object renders and photos (some tens of each).
    expect(row(rows, 'product').byObject.objects).toBeGreaterThan(10);
    expect(row(rows, 'product').byObject.objects).toBeLessThan(200);
  });

  it('flags more at high sensitivity and fewer at low, on the same photos', async () => {
    const [high, balanced, low] = await Promise.all(
      ['high', 'balanced', 'low'].map((sensitivity) => judgeUploads(server.url, dir, labels, { sensitivity })),
    );
    const flagged = (rows: UploadScores[]) => row(rows, 'all').falseAlarms.hits + row(rows, 'all').recall.hits;
    expect(flagged(high)).toBeGreaterThanOrEqual(flagged(balanced));
    expect(flagged(balanced)).toBeGreaterThanOrEqual(flagged(low));
    expect(flagged(high)).toBeGreaterThan(flagged(low));
  });
});
