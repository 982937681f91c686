import { describe, expect, it } from 'vitest';
import { inputSizeOf, parseManifest, thresholdFor, withCloserLook, type ModelManifest } from './manifest.js';
import { closerViewsOf, viewsOf } from './pipeline/views.js';

const entry = {
  name: 'm',
  version: '1.0.0',
  file: 'm.onnx',
  sha256: 'a'.repeat(64),
  size: 10,
  network: 'localiser',
  recipe: 'modern',
  protocol: 'upload',
  data: 'photos+products',
  threshold: 0.7,
  thresholds: { high: 0.4, balanced: 0.7, low: 0.9 },
  localises: true,
  metrics: { validation: { accuracy: 0.9 } },
  trainedAt: '2026-12-02T00:00:00Z',
};
const manifest = (e: object): ModelManifest => ({ version: 1, default: 'm', models: [{ ...entry, ...e }] }) as ModelManifest;

describe('manifest thresholds', () => {
  it('gives each sensitivity its threshold, and the model threshold when none is asked for', () => {
    const m = parseManifest(manifest({})).models[0];
    expect(thresholdFor(m)).toBe(0.7);
    expect(thresholdFor(m, 'balanced')).toBe(0.7);
    expect(thresholdFor(m, 'high')).toBe(0.4);
    expect(thresholdFor(m, 'low')).toBe(0.9);
    const plain = parseManifest(manifest({ thresholds: undefined })).models[0];
    expect(thresholdFor(plain, 'high')).toBe(0.7);
    expect(thresholdFor(plain, 'low')).toBe(0.7);
  });

  it('refuses thresholds out of order, outside (0,1) or disagreeing with the model threshold', () => {
    expect(() => parseManifest(manifest({ thresholds: { high: 0.8, balanced: 0.7, low: 0.9 } }))).toThrow(/rise/);
    expect(() => parseManifest(manifest({ thresholds: { high: 0, balanced: 0.7, low: 0.9 } }))).toThrow(/outside/);
    expect(() => parseManifest(manifest({ thresholds: { high: 0.4, balanced: 0.6, low: 0.9 } }))).toThrow(/balanced/);
  });

  it('refuses paths out of the folder, duplicate names and bad sha256', () => {
    expect(() => parseManifest(manifest({ file: '../m.onnx' }))).toThrow(/file path/);
    expect(() => parseManifest(manifest({ sha256: 'xyz' }))).toThrow(/sha256/);
    const twice = manifest({});
    twice.models.push({ ...twice.models[0] });
    expect(() => parseManifest(twice)).toThrow(/twice/);
  });
});

describe('manifest inputSize', () => {
  it("gives a model's input side, 64 when the entry names none", () => {
    expect(inputSizeOf(parseManifest(manifest({ inputSize: 128 })).models[0])).toBe(128);
    expect(inputSizeOf(parseManifest(manifest({})).models[0])).toBe(64);
  });

  it('refuses a side that is not a whole number of pixels in range', () => {
    for (const bad of [0, 12.5, 8, 4096, '128']) expect(() => parseManifest(manifest({ inputSize: bad }))).toThrow(/inputSize/);
  });
});

describe('manifest closerLook', () => {
  it('takes a closer look larger than the input, starting at or below every threshold', () => {
    expect(parseManifest(manifest({ inputSize: 128, closerLook: { inputSize: 256, above: 0.2 } })).models[0].closerLook).toEqual({
      inputSize: 256,
      above: 0.2,
    });
    expect(
      parseManifest(manifest({ inputSize: 128, closerLook: { inputSize: 256, above: 0.4 } })).models[0].closerLook?.above,
    ).toBe(0.4);
    // A manifest from before the closer look had one name (`zoom`) reads the same.
    const legacy = parseManifest(manifest({ inputSize: 128, zoom: { inputSize: 256, above: 0.3 } })).models[0];
    expect(legacy.closerLook).toEqual({ inputSize: 256, above: 0.3 });
    expect('zoom' in legacy).toBe(false);
    expect(() => parseManifest(manifest({ inputSize: 128, zoom: { inputSize: 100, above: 0.3 } }))).toThrow(
      /closer-look inputSize/,
    );
  });

  it("runs the closer look on its own views when it names them, else on the model's", () => {
    const own = parseManifest(
      manifest({ inputSize: 128, views: 'mirror', closerLook: { inputSize: 256, above: 0.2, views: 'flips' } }),
    );
    expect(closerViewsOf(own.models[0])).toBe('flips');
    expect(viewsOf(own.models[0])).toBe('mirror');
    const same = parseManifest(manifest({ inputSize: 128, views: 'mirror', closerLook: { inputSize: 256, above: 0.2 } }));
    expect(closerViewsOf(same.models[0])).toBe('mirror');
    expect(() =>
      parseManifest(manifest({ inputSize: 128, closerLook: { inputSize: 256, above: 0.2, views: 'rotations' } })),
    ).toThrow(/unknown closer-look views 'rotations'/);
  });

  it('refuses a closer look no larger than the input, out of range, or starting above a threshold', () => {
    for (const inputSize of [128, 100, 255.5, 1024])
      expect(() => parseManifest(manifest({ inputSize: 128, closerLook: { inputSize, above: 0.2 } }))).toThrow(
        /closer-look inputSize/,
      );
    for (const above of [0, -1, 0.5, Number.NaN])
      expect(() => parseManifest(manifest({ inputSize: 128, closerLook: { inputSize: 256, above } }))).toThrow(
        /closer look must start/,
      );
  });
});

describe('withCloserLook, the check scoring rule', () => {
  const entry = { closerLook: { inputSize: 256, above: 0.2 } };
  const first = [0.1, 0.3, 0.5, 0.95].map((score, photo) => ({ score, photo, side: 128 }));

  it('looks closer at the photos from its start up to the threshold, once, and answers with the higher look', async () => {
    const calls: number[][] = [];
    const closerScores: Record<number, number> = { 1: 0.6, 2: 0.4 };
    const chosen = await withCloserLook(entry, 0.9, first, async (indices) => {
      calls.push(indices);
      return indices.map((i) => ({ score: closerScores[i], photo: i, side: 256 }));
    });
    expect(calls).toEqual([[1, 2]]);
    expect(chosen.map((c) => [c.look.score, c.look.side, c.looks, c.closer])).toEqual([
      [0.1, 128, 1, false], // below the start: one look
      [0.6, 256, 2, true], // the closer look saw more
      [0.5, 128, 2, false], // it saw less: the first look answers
      [0.95, 128, 1, false], // flagged by the first look: no second
    ]);
  });

  it('takes no closer look without a closer look, and every one from the start with thresholds still to be chosen', async () => {
    let called = false;
    const none = await withCloserLook({}, 0.9, first, async () => {
      called = true;
      return [];
    });
    expect(called).toBe(false);
    expect(none.every((c) => c.looks === 1 && !c.closer)).toBe(true);
    const open = await withCloserLook(entry, Infinity, first, async (indices) =>
      indices.map(() => ({ score: 0, photo: -1, side: 256 })),
    );
    expect(open.map((c) => c.looks)).toEqual([1, 2, 2, 2]);
  });
});
