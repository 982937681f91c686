/**
 * The core's DCT-domain JPEG reader against libvips (sharp) decoding the same files in full: block
 * means, the model input made from them, and what it refuses. It lives here, not in the core,
 * because the core has no decoder to check it against.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  jpegLumaBlockMeans,
  jpegLumaPairMeans,
  jpegLumaQuarterMeans,
  jpegScanIndex,
  jpegToInput,
  preprocess,
  frameToInput,
  preprocessFramed,
  rgbaCells,
  type JpegBlockMeans,
  type JpegLumaCells,
} from '@blankspot/core';
import { photoFiles } from './fixtures.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url));

/** A progressive JPEG with restart markers, written by OpenCV's libjpeg (Debian's python3-opencv). */
async function progressiveWithRestarts(photo: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'blankspot-rst-'));
  const out = join(dir, 'p.jpg');
  const script =
    'import cv2,sys; i=cv2.resize(cv2.imread(sys.argv[1]),(1000,777),interpolation=cv2.INTER_AREA); ' +
    'cv2.imwrite(sys.argv[2],i,[cv2.IMWRITE_JPEG_QUALITY,85,cv2.IMWRITE_JPEG_PROGRESSIVE,1,cv2.IMWRITE_JPEG_RST_INTERVAL,3])';
  let jpeg: Buffer;
  try {
    await promisify(execFile)('/usr/bin/python3', ['-c', script, photo, out]);
    jpeg = await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // Its folder goes with it: a run of these tests leaves nothing in the temp folder.
  await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  // It is what it says: a progressive frame (SOF2) and a restart interval (DRI), with restart markers.
  expect(jpeg.includes(Buffer.from([0xff, 0xc2]))).toBe(true);
  expect(jpeg.includes(Buffer.from([0xff, 0xdd]))).toBe(true);
  expect(jpeg.includes(Buffer.from([0xff, 0xd0]))).toBe(true);
  return jpeg;
}

/** A JPEG re-encoded baseline by OpenCV's libjpeg with a restart marker every `restarts` MCUs, in colour or grey. */
async function baselineWithRestarts(jpeg: Buffer, restarts: number, grey = false): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'blankspot-rst-'));
  const [from, to] = [join(dir, 'in.jpg'), join(dir, 'out.jpg')];
  const script =
    `import cv2,sys; i=cv2.imread(sys.argv[1],${grey ? 'cv2.IMREAD_GRAYSCALE' : 'cv2.IMREAD_COLOR'}); ` +
    `cv2.imwrite(sys.argv[2],i,[cv2.IMWRITE_JPEG_QUALITY,88,cv2.IMWRITE_JPEG_RST_INTERVAL,${restarts}])`;
  try {
    await writeFile(from, jpeg);
    await promisify(execFile)('/usr/bin/python3', ['-c', script, from, to]);
    const out = await readFile(to);
    // Baseline (SOF0) with restart markers, and one component when grey.
    expect(out.includes(Buffer.from([0xff, 0xc0]))).toBe(true);
    expect(out.includes(Buffer.from([0xff, 0xd0]))).toBe(true);
    expect(out[out.indexOf(Buffer.from([0xff, 0xc0])) + 9]).toBe(grey ? 1 : 3);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A committed 4:2:2 fixture, checked to be one: luma sampled 2x1, both chroma components 1x1. */
async function subsampled422(name: string): Promise<Buffer> {
  const jpeg = await fixture(name);
  const sof = [0xc0, 0xc2].map((m) => jpeg.indexOf(Buffer.from([0xff, m]))).find((i) => i > 0)!;
  expect(jpeg[sof + 9]).toBe(3);
  expect([jpeg[sof + 11], jpeg[sof + 14], jpeg[sof + 17]]).toEqual([0x21, 0x11, 0x11]);
  if (name.startsWith('progressive')) expect(jpeg.includes(Buffer.from([0xff, 0xd0]))).toBe(true);
  return jpeg;
}

/** Rec.601 luma of each full cell of the decoded image (8x8 blocks, 4x4 quarters or 2x2 cells), next to the reader's mean for it. */
async function compareBlocks(jpeg: Buffer, cells: JpegBlockMeans | JpegLumaCells): Promise<number[]> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const ch = info.channels;
  const [cell, cols] = 'blocksWide' in cells ? [8, cells.blocksWide] : [cells.cell, cells.cols];
  const diffs: number[] = [];
  for (let by = 0; by < Math.floor(info.height / cell); by++)
    for (let bx = 0; bx < Math.floor(info.width / cell); bx++) {
      let sum = 0;
      for (let y = by * cell; y < by * cell + cell; y++)
        for (let x = bx * cell; x < bx * cell + cell; x++) {
          const p = (y * info.width + x) * ch;
          sum += ch >= 3 ? 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2] : data[p];
        }
      diffs.push(Math.abs(sum / (cell * cell) - cells.means[by * cols + bx]));
    }
  return diffs.sort((a, b) => a - b);
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const quantile = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))];

describe('jpegLumaBlockMeans', async () => {
  const [photo] = await photoFiles('natural', 1);
  const at = (w: number, h: number) => sharp(photo).resize(w, h, { fit: 'fill' });
  const cases: [string, () => Promise<Buffer>, { mean: number; p99: number }][] = [
    ['baseline 4:2:0', () => at(1000, 777).jpeg({ quality: 90 }).toBuffer(), { mean: 1, p99: 4 }],
    ['baseline 4:4:4', () => at(650, 531).jpeg({ quality: 75, chromaSubsampling: '4:4:4' }).toBuffer(), { mean: 1, p99: 4 }],
    ['progressive', () => at(1000, 777).jpeg({ quality: 85, progressive: true }).toBuffer(), { mean: 1, p99: 4 }],
    [
      'mozjpeg (progressive, own scan script)',
      () => at(777, 1000).jpeg({ quality: 80, mozjpeg: true }).toBuffer(),
      { mean: 1, p99: 4 },
    ],
    ['greyscale', () => at(650, 531).greyscale().jpeg({ quality: 85 }).toBuffer(), { mean: 0.3, p99: 1 }],
    [
      'greyscale progressive',
      () => at(650, 531).greyscale().jpeg({ quality: 85, progressive: true }).toBuffer(),
      { mean: 0.3, p99: 1 },
    ],
    ['restart markers, colour (OpenCV)', () => fixture('restart-colour-650x531.jpg'), { mean: 1, p99: 4 }],
    ['restart markers, greyscale (OpenCV)', () => fixture('restart-grey-650x531.jpg'), { mean: 0.3, p99: 1 }],
    ['progressive with restart markers (OpenCV)', () => progressiveWithRestarts(photo), { mean: 1, p99: 4 }],
    // 4:2:2 (luma 2x1 per MCU): no encoder the tests run writes it (sharp and OpenCV offer 4:2:0 and
    // 4:4:4 only), so these were written once by libjpeg-turbo 2.1.5's cjpeg from the Colosseum photo in
    // data/photos/natural at 700x560: `cjpeg -quality 88 -sample 2x1,1x1,1x1 [-progressive -restart 2]`.
    ['baseline 4:2:2 (cjpeg)', () => subsampled422('baseline-422-700x560.jpg'), { mean: 1, p99: 4 }],
    [
      'progressive 4:2:2 with restart markers (cjpeg)',
      () => subsampled422('progressive-restart-422-700x560.jpg'),
      { mean: 1, p99: 4 },
    ],
  ];
  for (const [name, make, limit] of cases) {
    it(`reads each block's mean luma: ${name}`, async () => {
      const jpeg = await make();
      const blocks = jpegLumaBlockMeans(new Uint8Array(jpeg))!;
      expect(blocks).not.toBeNull();
      const meta = await sharp(jpeg).metadata();
      expect([blocks.width, blocks.height]).toEqual([meta.width, meta.height]);
      expect([blocks.blocksWide, blocks.blocksHigh]).toEqual([Math.ceil(meta.width! / 8), Math.ceil(meta.height! / 8)]);
      const diffs = await compareBlocks(jpeg, blocks);
      // Off by the decoder's rounding (and, in colour, the RGB round trip), never by a misread block.
      expect(mean(diffs)).toBeLessThan(limit.mean);
      expect(quantile(diffs, 0.99)).toBeLessThan(limit.p99);
    });
  }

  const finer = [
    ['4x4 quarter', 4, jpegLumaQuarterMeans],
    ['2x2 cell', 2, jpegLumaPairMeans],
  ] as const;
  for (const [part, side, read] of finer)
    for (const [name, make, limit] of cases) {
      if (name.includes('progressive')) {
        it(`gives no ${part}s of a progressive JPEG (its AC coefficients come in refinement scans): ${name}`, async () => {
          const jpeg = await make();
          expect((await sharp(jpeg).metadata()).isProgressive).toBe(true);
          // Decoded in full where finer cells are wanted; its whole blocks are still read.
          expect(read(new Uint8Array(jpeg))).toBeNull();
          expect(jpegLumaBlockMeans(new Uint8Array(jpeg))).not.toBeNull();
        });
        continue;
      }
      it(`reads the mean luma of each ${part} of a block: ${name}`, async () => {
        const jpeg = await make();
        const cells = read(new Uint8Array(jpeg));
        const meta = await sharp(jpeg).metadata();
        expect(meta.isProgressive).toBe(false);
        if (!cells) throw new Error(`a baseline JPEG the reader covers gave no ${part}s`);
        expect([cells.width, cells.height]).toEqual([meta.width, meta.height]);
        expect([cells.cell, cells.cols, cells.rows]).toEqual([
          side,
          Math.ceil(meta.width! / side),
          Math.ceil(meta.height! / side),
        ]);
        const diffs = await compareBlocks(jpeg, cells);
        // As exact as the block means (quarters measured 0.06 mean, under 0.5 at the 99th percentile, in colour).
        expect(mean(diffs)).toBeLessThan(limit.mean);
        expect(quantile(diffs, 0.99)).toBeLessThan(limit.p99);
      });
    }

  it('refuses what it does not cover, so it is decoded in full: CMYK, truncated, damaged, not a JPEG', async () => {
    const jpeg = await at(700, 600).jpeg({ quality: 85 }).toBuffer();
    expect(jpegLumaBlockMeans(new Uint8Array(await at(700, 600).toColourspace('cmyk').jpeg().toBuffer()))).toBeNull();
    expect(jpegLumaBlockMeans(new Uint8Array(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))))).toBeNull();
    expect(jpegLumaBlockMeans(new Uint8Array(jpeg.subarray(0, jpeg.length - 2)))).toBeNull(); // no end of image
    const progressive = await at(700, 600).jpeg({ quality: 85, progressive: true }).toBuffer();
    expect(jpegLumaBlockMeans(new Uint8Array(progressive.subarray(0, Math.floor(progressive.length * 0.8))))).toBeNull();
    expect(jpegLumaBlockMeans(new Uint8Array(await at(700, 600).png().toBuffer()))).toBeNull();
    expect(jpegLumaBlockMeans(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]))).toBeNull();
  });

  it('never throws on damaged files, whatever bytes are changed', async () => {
    const jpeg = new Uint8Array(await at(640, 520).jpeg({ quality: 80 }).toBuffer());
    let seed = 42;
    const next = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
    for (let i = 0; i < 300; i++) {
      const bad = jpeg.slice();
      for (let k = 0; k < 1 + (i % 8); k++) bad[next() % bad.length] = next() & 0xff;
      for (const got of [jpegLumaBlockMeans(bad), jpegLumaQuarterMeans(bad), jpegLumaPairMeans(bad)])
        if (got) expect(got.means.every((v) => v >= 0 && v <= 255)).toBe(true);
    }
  });
});

describe('jpegToInput', async () => {
  const photos = await photoFiles('natural', 6);

  it('gives nearly the input of a full decode for photos of 512 px a side and more', async () => {
    for (const [i, photo] of photos.entries()) {
      const [w, h] = [
        [1000, 1000],
        [4000, 3000],
        [777, 1333],
      ][i % 3];
      const jpeg = await sharp(photo).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
      const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const exact = preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) });
      const got = jpegToInput(new Uint8Array(jpeg))!;
      expect([got.width, got.height]).toEqual([w, h]);
      const diffs = Array.from(exact, (v, k) => Math.abs(v - got.input[k]));
      // Block means are exact; only where an input pixel's edge cuts a block is the block's detail spread
      // over both sides. The fewer blocks per input pixel, the more that shows.
      // Measured on the repo's photos: 0.1-0.3/255 at 4000x3000, 0.4-2.4/255 at 1000x1000 and 777x1333.
      expect(mean(diffs)).toBeLessThan(3 / 255);
    }
  });

  it('turns the input upright for every EXIF orientation (1-8, mirrored ones too), as a full decode does', async () => {
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const jpeg = await sharp(photos[0])
        .resize(1200, 900, { fit: 'fill' })
        .jpeg({ quality: 90 })
        .withMetadata({ orientation })
        .toBuffer();
      const { data, info } = await sharp(jpeg).rotate().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const exact = preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) });
      const got = jpegToInput(new Uint8Array(jpeg), orientation)!;
      expect([got.width, got.height]).toEqual([info.width, info.height]);
      expect(mean(Array.from(exact, (v, k) => Math.abs(v - got.input[k])))).toBeLessThan(3 / 255);
    }
  });

  it('reads a whole photo for a 128 input from whole blocks, from 512 px a side', async () => {
    for (const [i, photo] of photos.entries()) {
      const [w, h] = [
        [1000, 1000],
        [600, 800],
        [777, 1333],
      ][i % 3];
      const jpeg = await sharp(photo).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
      const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const exact = preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) }, 128);
      const got = jpegToInput(new Uint8Array(jpeg), 1, 'content', 128)!;
      expect(got.frame).toBeNull();
      // Measured on the repo's photos at 600-1000 px: 3.9-7.4/255 from whole blocks (1.2-3.2 from quarters).
      expect(mean(Array.from(exact, (v, k) => Math.abs(v - got.input[k])))).toBeLessThan(9 / 255);
    }
  });

  it('leaves photos under 512 px a side to a full decode', async () => {
    const jpeg = new Uint8Array(await sharp(photos[0]).resize(511, 900, { fit: 'fill' }).jpeg().toBuffer());
    expect(jpegLumaBlockMeans(jpeg)).not.toBeNull();
    expect(jpegToInput(jpeg)).toBeNull();
  });
});

/** A cut-out from the repo's data centred on a pure-white canvas of `side` px, filling `fill` of it, as JPEG. */
async function productOnWhite(name: string, side: number, fill: number): Promise<Buffer> {
  const object = await sharp(new URL(`../../data/cutouts/${name}`, import.meta.url).pathname)
    .resize(Math.round(side * fill), Math.round(side * fill), { fit: 'inside' })
    .toBuffer();
  return sharp({ create: { width: side, height: side, channels: 3, background: '#ffffff' } })
    .composite([{ input: object, gravity: 'centre' }])
    .jpeg({ quality: 90 })
    .toBuffer();
}

describe('jpegScanIndex', () => {
  it('lets a read of finer cells decode only the units holding AC coefficients, with the same means as decoding them all', async () => {
    const product = await productOnWhite('animal_rooster.png', 1200, 0.4);
    const [photo] = await photoFiles('natural', 1);
    const cases: Array<[string, Buffer, boolean]> = [
      ['a product on white, 4:2:0', product, true],
      ['the same, 4:4:4', await sharp(product).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(), true],
      ['the same, restart markers (OpenCV)', await baselineWithRestarts(product, 3), true],
      ['the same, greyscale with restart markers (OpenCV)', await baselineWithRestarts(product, 7, true), true],
      ['4:2:2, restart markers', await subsampled422('baseline-422-700x560.jpg'), false],
      ['a natural photo', await sharp(photo).resize(1000, 777, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer(), false],
    ];
    for (const [name, jpeg, onWhite] of cases) {
      const bytes = new Uint8Array(jpeg);
      const read = jpegScanIndex(bytes)!;
      const index = read.index!;
      expect(index, name).toBeDefined();
      // Noting where the units start changes nothing of the read.
      expect(read.means, name).toEqual(jpegLumaBlockMeans(bytes)!.means);
      for (const finer of [jpegLumaQuarterMeans, jpegLumaPairMeans])
        expect(finer(bytes, index)!.means, `${name}, ${finer.name}`).toEqual(finer(bytes)!.means);
      const units = index.starts.length;
      const decoded = (index.x1 - index.x0 + 1) * (index.y1 - index.y0 + 1);
      // A product on white: only the units around it (the rooster fills 40% of the side); a photo: all of them.
      if (onWhite) expect(decoded, name).toBeLessThan(0.4 * units);
      else expect(decoded, name).toBe(units);
    }
  });

  it('decodes the units its index says and takes every other block as flat', async () => {
    const bytes = new Uint8Array(await productOnWhite('animal_rooster.png', 1200, 0.4));
    const { index, means: blockMeans, blocksWide } = jpegScanIndex(bytes)!;
    const quarters = jpegLumaQuarterMeans(bytes)!;
    // An index that says no unit holds an AC coefficient: every block's quarters are its mean.
    const flat = jpegLumaQuarterMeans(bytes, { ...index!, x0: 1, x1: 0 })!;
    expect(flat.means).not.toEqual(quarters.means);
    for (let cy = 0; cy < flat.rows; cy += 7)
      for (let cx = 0; cx < flat.cols; cx += 5)
        expect(flat.means[cy * flat.cols + cx]).toBeCloseTo(blockMeans[(cy >> 1) * blocksWide + (cx >> 1)], 3);
    // An index of other bytes (another shape) is not used: the read decodes every unit.
    const other = jpegScanIndex(new Uint8Array(await productOnWhite('animal_rooster.png', 1000, 0.4)))!.index!;
    expect(jpegLumaQuarterMeans(bytes, other)!.means).toEqual(quarters.means);
    // A progressive JPEG keeps no index (its finer cells are not read).
    const progressive = await sharp(Buffer.from(bytes)).jpeg({ quality: 90, progressive: true }).toBuffer();
    expect(jpegScanIndex(new Uint8Array(progressive))!.index).toBeUndefined();
  });
});

describe('jpegToInput under content framing', () => {
  it('frames a product on white from the block means as a full decode frames it, and gives nearly its input', async () => {
    for (const [name, side, fill] of [
      ['animal_seagull.png', 2000, 0.4],
      ['animal_seahorse.png', 1600, 0.6],
      ['animal_rooster.png', 3000, 0.3],
    ] as const) {
      const jpeg = await productOnWhite(name, side, fill);
      const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const exact = preprocessFramed({ width: info.width, height: info.height, data: new Uint8Array(data) }, 'content');
      const got = jpegToInput(new Uint8Array(jpeg), 1, 'content')!;
      expect(exact.frame).not.toBeNull();
      expect(got.frame).not.toBeNull();
      // The product fills far more of the input than under full framing.
      const dark = (a: Float32Array) => a.filter((v) => v < 0.9).length;
      expect(dark(exact.input)).toBeGreaterThan(1.5 * dark(preprocess({ width: info.width, height: info.height, data })));
      // Measured on these three: the same frame to the pixel, inputs 0.3-0.6/255 apart (block detail at cell edges).
      expect(got.frame).toEqual(exact.frame);
      expect(mean(Array.from(exact.input, (v, k) => Math.abs(v - got.input[k])))).toBeLessThan(2 / 255);
    }
  });

  /** A product shot's 128 input framed on its fully decoded pixels, and as the DCT-domain reader frames it. */
  async function framedBothWays(jpeg: Buffer) {
    const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = { width: info.width, height: info.height, data: new Uint8Array(data) };
    return {
      pixels,
      exact: preprocessFramed(pixels, 'content', 128),
      got: jpegToInput(new Uint8Array(jpeg), 1, 'content', 128)!,
    };
  }

  it('reads a closer look from the frames an earlier look found on the whole blocks: the same input, and its frames as given', async () => {
    // A 3000 px shot whose frame (about 1,400 px) reads a 128 input from whole blocks and a 256 one from quarters.
    const jpeg = new Uint8Array(await productOnWhite('animal_rooster.png', 3000, 0.45));
    const first = jpegToInput(jpeg, 1, 'content', 128)!;
    expect(first.frame!.side).toBeGreaterThanOrEqual(1024);
    expect(first.blockRead!.frames.frame).toEqual(first.frame);
    const fresh = jpegToInput(jpeg, 1, 'content', 256)!;
    const hinted = jpegToInput(jpeg, 1, 'content', 256, first.blockRead)!;
    expect(hinted).toEqual(fresh);
    // The hint is what decides the cells: a frame of 600 px wants 2x2 cells at 256, read instead of quarters
    // (the frames found again on them, the input a little different).
    const small = { frames: { frame: { ...first.frame!, side: 600 }, objects: [] } };
    const fromPairs = jpegToInput(jpeg, 1, 'content', 256, small)!;
    expect(fromPairs.input).not.toEqual(fresh.input);
    expect(Math.abs(fromPairs.frame!.side - fresh.frame!.side)).toBeLessThan(16);
    // Frames too small for any cell at 256 leave the photo to a full decode without reading it.
    expect(jpegToInput(jpeg, 1, 'content', 256, { frames: { frame: { ...first.frame!, side: 300 }, objects: [] } })).toBeNull();
    // A hint under full framing, or without a frame, changes nothing.
    expect(jpegToInput(jpeg, 1, 'full', 256, first.blockRead)).toEqual(jpegToInput(jpeg, 1, 'full', 256));
    expect(jpegToInput(jpeg, 1, 'content', 256, { frames: { frame: null, objects: [] } })).toEqual(fresh);
  });

  it('reads a closer look at a photo with no frame from the block means the earlier look read: the same input', async () => {
    const [photo] = await photoFiles('natural', 1);
    const jpeg = new Uint8Array(await sharp(photo).resize(2400, 1800, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
    const first = jpegToInput(jpeg, 1, 'content', 128)!;
    expect(first.frame).toBeNull();
    expect(first.blockRead!.blocks!.cell).toBe(8);
    const fresh = jpegToInput(jpeg, 1, 'content', 256)!;
    expect(jpegToInput(jpeg, 1, 'content', 256, first.blockRead)).toEqual(fresh);
    // Turned by its EXIF orientation the same (the blocks are kept as stored, turned at each side).
    const turned = jpegToInput(jpeg, 6, 'content', 128)!;
    expect(jpegToInput(jpeg, 6, 'content', 256, turned.blockRead)!.input).toEqual(jpegToInput(jpeg, 6, 'content', 256)!.input);
    // Blocks of a photo too small to be read whole at 256 (under 1024 px): no input, as a fresh read gives.
    const small = new Uint8Array(await sharp(photo).resize(800, 600, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
    const read = jpegToInput(small, 1, 'content', 128)!.blockRead!;
    expect(jpegToInput(small, 1, 'content', 256)).toBeNull();
    expect(jpegToInput(small, 1, 'content', 256, read)).toBeNull();
    // Under full framing nothing is kept, and a read is not taken from an earlier one.
    expect(jpegToInput(jpeg, 1, 'full', 128)!).not.toHaveProperty('blockRead');
    expect(jpegToInput(jpeg, 1, 'full', 256, first.blockRead)).toEqual(jpegToInput(jpeg, 1, 'full', 256));
  });

  it('reads a 128 input for a frame under 1024 px of a larger photo from quarters, as near a full decode', async () => {
    const jpeg = await productOnWhite('animal_seahorse.png', 2000, 0.4);
    const { exact, got } = await framedBothWays(jpeg);
    expect(exact.frame!.side).toBeLessThan(1024);
    expect(got.frame).toEqual(exact.frame);
    expect(mean(Array.from(exact.input, (v, k) => Math.abs(v - got.input[k])))).toBeLessThan(1 / 255);
    // The same photo written progressive: its quarters are in refinement scans, so it is decoded in full.
    const progressive = await sharp(jpeg).jpeg({ quality: 90, progressive: true }).toBuffer();
    expect(jpegToInput(new Uint8Array(progressive), 1, 'content', 128)).toBeNull();
    expect(jpegToInput(new Uint8Array(progressive), 1, 'content', 64)).not.toBeNull();
  });

  it('reads a 128 input for a frame under 512 px from 2x2 cells, as near a full decode', async () => {
    const { pixels: decoded, exact, got } = await framedBothWays(await productOnWhite('animal_seahorse.png', 1000, 0.3));
    expect(exact.frame!.side).toBeLessThan(512);
    expect(exact.frame!.side).toBeGreaterThanOrEqual(256);
    expect(got).not.toBeNull();
    // The frame is found on a grid of 7.8 px cells made of 2x2 cells, not pixels: a cell at the content
    // threshold may tip (measured: the same side, placed 3 px apart).
    expect(got.frame!.side).toBe(exact.frame!.side);
    expect(Math.abs(got.frame!.x - exact.frame!.x)).toBeLessThanOrEqual(4);
    expect(Math.abs(got.frame!.y - exact.frame!.y)).toBeLessThanOrEqual(4);
    // Through the same frame, the pixels' input and the cells' are under a grey level apart on average
    // (measured 0.71/255: a 2x2 cell split by an input pixel's edge counts as even).
    const pixels = frameToInput(rgbaCells(decoded), got.frame!, 128);
    expect(mean(Array.from(pixels, (v, k) => Math.abs(v - got.input[k])))).toBeLessThan(1 / 255);
  });

  it('leaves a frame under 2 px per input pixel, and turned photos, to a full decode; natural photos are read whole', async () => {
    // A 700 px shot's frame is at least 30% of it, 210 px: under 256 for a 128 input.
    expect(jpegToInput(new Uint8Array(await productOnWhite('animal_seagull.png', 700, 0.2)), 1, 'content', 128)).toBeNull();
    const large = new Uint8Array(await productOnWhite('animal_seagull.png', 2000, 0.4));
    expect(jpegToInput(large, 6, 'content')).toBeNull();
    const photo = new Uint8Array(
      await sharp((await photoFiles('natural', 1))[0])
        .resize(1200, 900)
        .jpeg()
        .toBuffer(),
    );
    const whole = jpegToInput(photo, 1, 'content')!;
    expect(whole.frame).toBeNull();
    expect(whole.input).toEqual(jpegToInput(photo)!.input);
  });
});
