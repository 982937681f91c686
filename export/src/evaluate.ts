/**
 * `blankspot evaluate`: the shipped ONNX files themselves (not their checkpoints), in ONNX Runtime,
 * on test sets built under either protocol: accuracy against the Bayes ceiling, recall on visible
 * rectangles, false positives on clean photos and, for localisers, how well the boxes fit. This is
 * how a model trained under one protocol is judged under the other, and how a retailer scores the
 * shipped models on their own catalogue.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  INPUT_SIZE,
  anomalyScores,
  boxFromHeatmap,
  framingOf,
  greyToInput,
  heatmapOf,
  inputSizeOf,
  parseManifest,
  verifyModelBytes,
  type Framing,
  type RectangleSides,
  type InferenceSession,
  type Box,
  type Views,
  runModel,
  withCloserLook,
  closerViewsOf,
  viewsOf,
} from '@blankspot/core';
import { createNodeSession } from '@blankspot/runtime-node';
import {
  buildSplitsCached,
  localisation,
  quality,
  type DataOptions,
  type Examples,
  type Localisation,
  type ModelQuality,
  type Rate,
} from '@blankspot/training';

/** The softmax's own decision: flagged when column 1 is the larger output. */
const NETWORK_DECISION = 0.5;

/**
 * A set shown at a model's input side: the images resized by area (pixel replication when it is twice
 * the side) and the boxes scaled alike. How a 128-input model sees the paper protocol's 64x64 images.
 */
export function examplesAtSide(ex: Examples, side: number): Examples {
  if (ex.side === side) return ex;
  const pixels = side * side;
  const images = new Float32Array(ex.count * pixels);
  for (let i = 0; i < ex.count; i++) {
    const data = ex.images.subarray(i * ex.side * ex.side, (i + 1) * ex.side * ex.side);
    images.set(greyToInput({ width: ex.side, height: ex.side, data }, side), i * pixels);
  }
  const k = side / ex.side;
  const boxes = ex.boxes.map((v) => (v < 0 ? v : v * k));
  return { ...ex, side, images, boxes };
}

export interface EvaluationRow {
  model: string;
  protocol: string;
  set: string;
  count: number;
  /** At the model's own threshold (its manifest's `balanced`, chosen for uploads). */
  quality: ModelQuality;
  /**
   * Accuracy at the network's own decision (the larger of its two softmax outputs, a score of 0.5): how
   * the paper's Table 1 counts "% correct", whatever operating point the manifest sets for uploads.
   */
  decisionAccuracy: number;
  localisation: Localisation | null;
}

/** Anomaly scores and (for localisers) boxes of one model over a whole set, in batches. */
async function score(
  session: InferenceSession,
  ex: Examples,
  views: Views,
  /** The rectangles' sides where the protocol fixes them (the paper's square); otherwise read from the heatmap. */
  sides?: RectangleSides,
): Promise<{ scores: Float32Array; boxes?: (Box | null)[] }> {
  const scores = new Float32Array(ex.count);
  const boxes: (Box | null)[] = [];
  let localises = false;
  const PIXELS = ex.side * ex.side;
  for (let start = 0; start < ex.count; start += 256) {
    const n = Math.min(256, ex.count - start);
    const input = ex.images.slice(start * PIXELS, (start + n) * PIXELS);
    const out = await runModel(session, input, n, views);
    scores.set(anomalyScores(out.prob), start);
    if (out.heatmap) {
      localises = true;
      for (let i = 0; i < n; i++)
        boxes[start + i] = boxFromHeatmap(
          heatmapOf(out.heatmap, i),
          input.subarray(i * PIXELS, (i + 1) * PIXELS),
          ex.side,
          sides,
        );
    }
  }
  return localises ? { scores, boxes } : { scores };
}

export async function evaluateModels(
  manifestPath: string,
  data: Omit<DataOptions, 'protocol' | 'counts'> & {
    protocols: DataOptions['protocol'][];
    testSize: number;
    models?: string[];
    /** Keep and reuse the generated test sets here (see buildSplitsCached). */
    cacheDir?: string;
  },
): Promise<EvaluationRow[]> {
  const manifest = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
  const entries = manifest.models.filter((m) => !data.models || data.models.includes(m.name));
  const sessions = await Promise.all(
    entries.map(async (entry) => {
      const bytes = new Uint8Array(await readFile(join(dirname(manifestPath), entry.file)));
      await verifyModelBytes(entry, bytes);
      // The Node adapter's session (the API's), with ONNX Runtime's own thread count for large batches.
      return { entry, session: await createNodeSession(bytes, { threads: 0 }) };
    }),
  );
  const rows: EvaluationRow[] = [];
  try {
    for (const protocol of data.protocols) {
      // Each model sees its test photos as it sees uploads: one test set per framing and input side in
      // use (the same photos and rectangles, from the same seeds); the paper protocol always takes the
      // whole photo at 64x64, shown to a model of another side by area resizing.
      const tests = new Map<string, Promise<Examples>>();
      const testFor = (framing: Framing, side: number) => {
        const key = protocol === 'paper' ? 'full' : framing;
        const built = protocol === 'paper' ? INPUT_SIZE : side;
        const id = `${key} ${built}`;
        let t = tests.get(id);
        if (!t) {
          t = buildSplitsCached(
            {
              ...data,
              protocol,
              framing: key,
              counts: { train: 0, val: 0, test: data.testSize },
              ...(built !== INPUT_SIZE ? { inputSize: built } : {}),
            },
            data.cacheDir,
          ).then((s) => s.test);
          tests.set(id, t);
        }
        return t.then((ex) => examplesAtSide(ex, side));
      };
      // The paper's 16x16 square at 64x64 is a quarter of any input side.
      const sidesAt = (side: number): RectangleSides | undefined =>
        protocol === 'paper' ? { x: [side / 4, side / 4], y: [side / 4, side / 4] } : undefined;
      for (const { entry, session } of sessions) {
        let test = await testFor(framingOf(entry), inputSizeOf(entry));
        const ev = await score(session, test, viewsOf(entry), sidesAt(test.side));
        // The closer look (ModelEntry.closerLook), as checkImage takes it: the same photos at the larger side,
        // for those whose first look reached its start and scored higher there; their scores, boxes and
        // (for the box fit) the rectangle as that look's frame shows it, in the first look's pixels.
        const closerLook = entry.closerLook;
        if (closerLook != null) {
          const closer = await testFor(framingOf(entry), closerLook.inputSize);
          const near = await score(session, closer, closerViewsOf(entry), sidesAt(closer.side));
          const f = test.side / closer.side;
          const boxes = Float32Array.from(test.boxes);
          const firstLooks = Array.from(ev.scores, (score) => ({ score }));
          const chosen = await withCloserLook(entry, entry.threshold, firstLooks, async (suspect) =>
            suspect.map((i) => ({ score: near.scores[i] })),
          );
          for (let i = 0; i < test.count; i++) {
            if (!chosen[i].closer) continue;
            ev.scores[i] = near.scores[i];
            const box = near.boxes?.[i];
            if (ev.boxes) ev.boxes[i] = box ? { x: box.x * f, y: box.y * f, width: box.width * f, height: box.height * f } : null;
            for (let k = 0; k < 4; k++)
              boxes[i * 4 + k] = closer.boxes[i * 4 + k] < 0 ? closer.boxes[i * 4 + k] : closer.boxes[i * 4 + k] * f;
          }
          test = { ...test, boxes };
        }
        for (const [s, set] of test.sets.entries()) {
          const only = (i: number) => test.setIndex[i] === s;
          rows.push({
            model: entry.name,
            protocol,
            set,
            count: test.setIndex.filter((v) => v === s).length,
            quality: quality(test, ev.scores, only, entry.threshold),
            decisionAccuracy: quality(test, ev.scores, only, NETWORK_DECISION).accuracy,
            localisation: localisation(test, { loss: 0, accuracy: 0, ...ev }, only, entry.threshold),
          });
        }
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.session.release()));
  }
  return rows;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const rate = (r: Rate) => `${pct(r.rate)} of ${r.total} (${pct(r.low)}-${pct(r.high)})`;

/**
 * One row per model, protocol and set, at each model's own threshold: false alarms on clean images and
 * recall on visible damage with their 95% intervals, accuracy against the Bayes ceiling, box fit; and
 * the accuracy at the network's own decision (Table 1's measure).
 */
export function evaluationTable(rows: EvaluationRow[]): string {
  const lines = [
    '| model | protocol | set | images | threshold | false alarms on clean (95% CI) | recall on visible (95% CI) | accuracy | accuracy at 0.5 | Bayes ceiling | boxes with IoU >= 0.7 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const q = r.quality;
    lines.push(
      `| ${r.model} | ${r.protocol} | ${r.set} | ${r.count} | ${q.threshold.toFixed(3)} | ${rate(q.falseAlarms)} | ${rate(q.recall)} | ` +
        `${pct(q.accuracy)} | ${pct(r.decisionAccuracy)} | ${pct(q.bayesCeiling)} | ${r.localisation ? `${pct(r.localisation.iouAtLeast07)} of ${r.localisation.detected}` : '—'} |`,
    );
  }
  return lines.join('\n') + '\n';
}
