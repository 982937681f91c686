import { describe, expect, it } from 'vitest';
import { INPUT_SIZE, PAPER_SQUARE_SIZE } from '@blankspot/core';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { buildSplits, buildSplitsCached, exampleImage } from './build.js';
import { listImages, splitFiles } from './sources.js';
import { REPO_DATA_DIR } from './build.js';
import { join } from 'node:path';

const counts = (train: number, val = 0, test = 0) => ({ train, val, test });

describe('paper protocol', () => {
  it('pastes a 16x16 square of exactly 1.0, fully inside, on half the images, uniformly placed', async () => {
    const n = 4000;
    const { train } = await buildSplits({ sets: ['binary'], protocol: 'paper', seed: 'proto', counts: counts(n) });
    let positives = 0;
    const xs = new Array(INPUT_SIZE - PAPER_SQUARE_SIZE + 1).fill(0);
    const ys = new Array(INPUT_SIZE - PAPER_SQUARE_SIZE + 1).fill(0);
    for (let i = 0; i < n; i++) {
      const img = exampleImage(train, i);
      const ones = img.reduce((a, v) => a + (v === 1 ? 1 : 0), 0);
      if (train.labels[i] === 0) {
        expect(ones).toBe(0);
        continue;
      }
      positives++;
      const [x, y, w, h] = train.boxes.subarray(i * 4, i * 4 + 4);
      expect([w, h]).toEqual([PAPER_SQUARE_SIZE, PAPER_SQUARE_SIZE]);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(x + w).toBeLessThanOrEqual(INPUT_SIZE);
      expect(y + h).toBeLessThanOrEqual(INPUT_SIZE);
      // On a black background, exactly the 256 pixels of the square are 1.0, and they are the box.
      expect(ones).toBe(PAPER_SQUARE_SIZE * PAPER_SQUARE_SIZE);
      for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) expect(img[r * INPUT_SIZE + c]).toBe(1);
      xs[x]++;
      ys[y]++;
    }
    // Label rate 1/2: within 3.5 standard deviations of a fair coin.
    expect(Math.abs(positives - n / 2)).toBeLessThan(3.5 * Math.sqrt(n / 4));
    // Positions uniform over the 49 places: chi-square with 48 degrees of freedom, p > 0.001.
    for (const counts of [xs, ys]) {
      const expected = positives / counts.length;
      const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
      expect(chi2).toBeLessThan(84.04);
      expect(counts.every((c) => c > 0)).toBe(true);
    }
  });

  it('gives the same set for the same seed and a different one for another seed', async () => {
    const opts = { sets: ['photos' as const, 'solid' as const], protocol: 'paper' as const, counts: counts(40, 10, 10) };
    const a = await buildSplits({ ...opts, seed: 7 });
    const b = await buildSplits({ ...opts, seed: 7 });
    const c = await buildSplits({ ...opts, seed: 8 });
    for (const split of ['train', 'val', 'test'] as const) {
      expect(Buffer.from(a[split].images.buffer).equals(Buffer.from(b[split].images.buffer))).toBe(true);
      expect(Array.from(a[split].labels)).toEqual(Array.from(b[split].labels));
    }
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(c.train.images.buffer))).toBe(false);
  });

  it('keeps Solid backgrounds uniform and darker than the square', async () => {
    const { train } = await buildSplits({ sets: ['solid'], protocol: 'paper', seed: 's', counts: counts(200) });
    const levels = new Set<number>();
    for (let i = 0; i < train.count; i++) {
      const img = exampleImage(train, i);
      const bg = train.labels[i] === 1 && train.boxes[i * 4] === 0 && train.boxes[i * 4 + 1] === 0 ? img[4095] : img[0];
      expect(bg).toBeLessThan(0.91);
      expect(img.every((v) => v === 1 || Math.abs(v - bg) < 1e-6)).toBe(true);
      levels.add(Math.round(bg * 255));
    }
    expect(levels.size).toBeGreaterThan(100);
  });
});

describe('the Bayes ceiling', () => {
  it('marks squares that landed on pure white as hidden, and only those', async () => {
    const { train } = await buildSplits({ sets: ['products'], protocol: 'paper', seed: 'ceiling', counts: counts(400) });
    let hidden = 0;
    for (let i = 0; i < train.count; i++) {
      if (train.labels[i] === 0) {
        expect(train.hidden[i]).toBe(0);
        continue;
      }
      if (train.hidden[i]) hidden++;
    }
    // Products sit on white or near-white canvases: some squares land on pure white, most do not.
    expect(hidden).toBeGreaterThan(0);
    expect(hidden).toBeLessThan(train.labels.reduce((a, b) => a + b, 0));
    const solid = await buildSplits({ sets: ['solid'], protocol: 'paper', seed: 'ceiling', counts: counts(200) });
    expect(solid.train.hidden.every((h) => h === 0)).toBe(true);
  });
});

describe('realistic protocol', () => {
  it('pastes a white rectangle of 20-30% of each side and JPEG-compresses every image', async () => {
    const { train } = await buildSplits({ sets: ['photos'], protocol: 'realistic', seed: 'r', counts: counts(60) });
    let positives = 0;
    for (let i = 0; i < train.count; i++) {
      if (train.labels[i] === 0) continue;
      positives++;
      const [x, y, w, h] = train.boxes.subarray(i * 4, i * 4 + 4);
      expect(w / INPUT_SIZE).toBeGreaterThanOrEqual(0.19);
      expect(w / INPUT_SIZE).toBeLessThanOrEqual(0.31);
      expect(h / INPUT_SIZE).toBeGreaterThanOrEqual(0.19);
      expect(h / INPUT_SIZE).toBeLessThanOrEqual(0.31);
      // The inside of the rectangle stays near white after JPEG and resizing.
      const img = exampleImage(train, i);
      const cx = Math.floor(x + w / 2);
      const cy = Math.floor(y + h / 2);
      expect(img[cy * INPUT_SIZE + cx]).toBeGreaterThan(0.9);
    }
    expect(positives).toBeGreaterThan(15);
    expect(positives).toBeLessThan(45);
  });
});

describe('splits by source photo', () => {
  it('never shares a photo between train, val and test', async () => {
    const files = await listImages(join(REPO_DATA_DIR, 'photos/natural'));
    const s = splitFiles(files, 3);
    const all = [...s.train, ...s.val, ...s.test];
    expect(new Set(all).size).toBe(files.length);
    expect(all.length).toBe(files.length);
    expect(s.test.length).toBeGreaterThan(30);
    expect(s.train.length).toBeGreaterThan(150);
  });

  it('rejects an empty folder with a clear error', async () => {
    await expect(
      buildSplits({ sets: ['photos'], protocol: 'paper', seed: 1, counts: counts(1), photosDir: '/nonexistent' }),
    ).rejects.toThrow(/cannot read image folder/);
  });
});

describe('cached data sets', () => {
  it('reads back exactly what it built, at any input side, and builds again over a damaged file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-cache-'));
    try {
      for (const inputSize of [undefined, 128]) {
        const options = {
          sets: ['solid', 'photos'] as const,
          protocol: 'realistic' as const,
          seed: 'cache',
          counts: counts(6, 3, 3),
          ...(inputSize ? { inputSize } : {}),
        };
        const before = await readdir(dir);
        const built = await buildSplitsCached({ ...options, sets: [...options.sets] }, dir);
        const files = (await readdir(dir)).filter((f) => f.endsWith('.bin') && !before.includes(f));
        expect(files).toHaveLength(1);
        const read = await buildSplitsCached({ ...options, sets: [...options.sets] }, dir);
        for (const split of ['train', 'val', 'test'] as const) {
          expect(read[split].side).toBe(inputSize ?? 64);
          expect(read[split].images).toEqual(built[split].images);
          expect(read[split].labels).toEqual(built[split].labels);
          expect(read[split].boxes).toEqual(built[split].boxes);
          expect(read[split].setIndex).toEqual(built[split].setIndex);
          expect(read[split].hidden).toEqual(built[split].hidden);
        }
        // A file cut short is not used: the set is built again, the same.
        const file = join(dir, files[0]);
        await truncate(file, 100);
        const again = await buildSplitsCached({ ...options, sets: [...options.sets] }, dir);
        expect(again.train.images).toEqual(built.train.images);
      }
      // One file per side: the 128 set does not overwrite the 64 one.
      expect((await readdir(dir)).filter((f) => f.endsWith('.bin'))).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
