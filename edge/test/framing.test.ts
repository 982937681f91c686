/**
 * The one pipeline (`checkImage`) follows a model's framing on the Node adapter: the input it runs is
 * the frame around a product on white, made as the core makes it from sharp's pixels or from the
 * JPEG's block means; a model without framing still sees the whole photo; boxes come back in the
 * photo's own pixels through the frame.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LIMITS,
  checkImage,
  findModel,
  inputSizeOf,
  parseManifest,
  preprocess,
  preprocessFramed,
  anomalyScores,
  framedInputs,
  runModel,
  viewsOf,
  type ImageDecoder,
  type InferenceSession,
  type ModelEntry,
  type ModelInput,
} from '@blankspot/core';
import { REPO_MODELS_DIR, createNodeRuntime } from '../src/node/index.js';
import { closeJpegThreads } from '@blankspot/runtime-node';

const runtime = createNodeRuntime();
const manifest = parseManifest(JSON.parse(await readFile(join(REPO_MODELS_DIR, 'manifest.json'), 'utf8')));
const base = findModel(manifest);
const session: InferenceSession = await runtime.createSession(await runtime.readModelFile(base.file), base);
afterAll(async () => {
  await session.release();
  await closeJpegThreads();
});

async function productOnWhite(side: number, fill: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const object = await sharp(new URL('../../data/cutouts/animal_seagull.png', import.meta.url).pathname)
    .resize(Math.round(side * fill), Math.round(side * fill), { fit: 'inside' })
    .toBuffer();
  const img = sharp({ create: { width: side, height: side, channels: 3, background: '#ffffff' } }).composite([
    { input: object, gravity: 'centre' },
  ]);
  return format === 'jpeg' ? img.jpeg({ quality: 92 }).toBuffer() : img.png().toBuffer();
}

async function inputOf(bytes: Buffer, entry: ModelEntry): Promise<ModelInput> {
  let made: ModelInput | undefined;
  await checkImage(new Uint8Array(bytes), { entry, session }, runtime.decoder, LIMITS, { onInput: (m) => (made = m) });
  return made!;
}

describe('checkImage under a model framing', () => {
  // One look: the closer look (`closerLook`) has its own tests below.
  const framed: ModelEntry = { ...base, framing: 'content', closerLook: undefined };
  const whole: ModelEntry = { ...base, framing: undefined };

  it('runs the frame around a product on white, from decoded pixels (PNG) and from block means (large JPEG)', async () => {
    const png = await productOnWhite(900, 0.4, 'png');
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = { width: info.width, height: info.height, data: new Uint8Array(data) };
    const made = await inputOf(png, framed);
    expect(made.from).toBe('pixels');
    expect(made.frame).not.toBeNull();
    expect(made.input).toEqual(preprocessFramed(pixels, 'content', inputSizeOf(base)).input);

    const jpeg = await productOnWhite(2400, 0.35, 'jpeg');
    const fromBlocks = await inputOf(jpeg, framed);
    expect(fromBlocks.from).toBe('blocks');
    expect(fromBlocks.frame!.side).toBeLessThan(2400);
  });

  it('looks at a shot of two objects through each one, scores it by the higher, and reads the box where the damage shows', async () => {
    // Two cut-outs far apart on white, a mug and an apple; a white rectangle erased a patch of the mug.
    const side = 1800;
    const cutout = (name: string, size: number) =>
      sharp(new URL(`../../data/cutouts/${name}`, import.meta.url).pathname)
        .resize(size, size, { fit: 'inside' })
        .toBuffer();
    const damage = { x: 1080, y: 700, w: 200, h: 150 };
    const png = await sharp({ create: { width: side, height: side, channels: 3, background: '#ffffff' } })
      .composite([
        { input: await cutout('household_mug.png', 500), left: 1000, top: 550 },
        { input: await cutout('food_apple_red.png', 350), left: 250, top: 900 },
        {
          input: await sharp({ create: { width: damage.w, height: damage.h, channels: 3, background: '#ffffff' } })
            .png()
            .toBuffer(),
          left: damage.x,
          top: damage.y,
        },
      ])
      .png()
      .toBuffer();
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = { width: info.width, height: info.height, data: new Uint8Array(data) };
    const size = inputSizeOf(base);
    const made = await inputOf(png, framed);
    const looks = framedInputs(pixels, 'content', size);
    expect(looks.objects).toHaveLength(2);
    expect(made.objects.map((o) => o.frame)).toEqual(looks.objects.map((o) => o.frame));
    // The score is the higher of the two objects' (each run alone), not the whole frame's.
    const alone = async (input: Float32Array) => anomalyScores((await runModel(session, input, 1, viewsOf(framed))).prob)[0];
    const objectScores = [await alone(looks.objects[0].input), await alone(looks.objects[1].input)];
    const result = await checkImage(new Uint8Array(png), { entry: framed, session }, runtime.decoder, LIMITS);
    expect(result.score).toBeCloseTo(Math.max(...objectScores), 5);
    expect(result.flagged).toBe(true);
    // The box is on the mug's patch, in the photo's pixels.
    const box = result.box!;
    const overlap =
      Math.max(0, Math.min(box.x + box.width, damage.x + damage.w) - Math.max(box.x, damage.x)) *
      Math.max(0, Math.min(box.y + box.height, damage.y + damage.h) - Math.max(box.y, damage.y));
    expect(overlap / (box.width * box.height + damage.w * damage.h - overlap)).toBeGreaterThan(0.5);
    // The same shot as a JPEG is read from its blocks, objects and all, and flagged alike.
    const jpeg = await sharp(png).jpeg({ quality: 92 }).toBuffer();
    const fromBlocks = await inputOf(jpeg, framed);
    expect(fromBlocks.from).toBe('blocks');
    expect(fromBlocks.objects).toHaveLength(2);
    expect((await checkImage(new Uint8Array(jpeg), { entry: framed, session }, runtime.decoder, LIMITS)).flagged).toBe(true);
  });

  it('a model without framing sees the whole photo', async () => {
    const png = await productOnWhite(900, 0.4, 'png');
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const made = await inputOf(png, whole);
    expect(made.frame).toBeNull();
    expect(made.input).toEqual(
      preprocess({ width: info.width, height: info.height, data: new Uint8Array(data) }, inputSizeOf(base)),
    );
  });
});

describe("checkImage's closer look (a manifest's closerLook)", () => {
  // A product on white, a white rectangle erasing its side: the first look's score decides whether the
  // second is taken, whatever the model scores it (the closer look's start is set round it). Where it is, the
  // shipped default's two looks score it apart (0.993 and 0.998 for 1.4.0), so the test tells them apart.
  const DAMAGE = { x: 580, y: 300, w: 150, h: 300 };
  async function damagedProduct(): Promise<{ png: Buffer; pixels: { width: number; height: number; data: Uint8Array } }> {
    const side = 1000;
    const object = await sharp(new URL('../../data/cutouts/household_mug.png', import.meta.url).pathname)
      .resize(600, 600, { fit: 'inside' })
      .toBuffer();
    const patch = await sharp({ create: { width: DAMAGE.w, height: DAMAGE.h, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const png = await sharp({ create: { width: side, height: side, channels: 3, background: '#ffffff' } })
      .composite([
        { input: object, gravity: 'centre' },
        { input: patch, left: DAMAGE.x, top: DAMAGE.y },
      ])
      .png()
      .toBuffer();
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { png, pixels: { width: info.width, height: info.height, data: new Uint8Array(data) } };
  }
  const scoreOf = async (input: Float32Array, entry: ModelEntry) =>
    anomalyScores((await runModel(session, input, 1, viewsOf(entry))).prob)[0];

  /** A session that counts the batches it runs: one look is one batch for a single-object shot. */
  const counting = () => {
    const counter = { looks: 0, session: undefined as unknown as InferenceSession };
    counter.session = { run: (input, n) => (counter.looks++, session.run(input, n)), release: async () => {} };
    return counter;
  };

  it('looks again on the larger input between the start and the threshold; the score is the higher look, the box from it', async () => {
    const { png, pixels } = await damagedProduct();
    const probe: ModelEntry = { ...base, framing: 'content', closerLook: undefined };
    const first = await scoreOf(framedInputs(pixels, 'content', inputSizeOf(base)).input, probe);
    const closer = await scoreOf(framedInputs(pixels, 'content', 256).input, probe);
    expect(Math.abs(first - closer)).toBeGreaterThan(1e-4); // the two looks differ, so the test can tell them apart
    const closerLook = { inputSize: 256, above: 1e-6 };
    const entry: ModelEntry = { ...probe, closerLook, threshold: 0.9999999, thresholds: undefined };
    const c = counting();
    // The PNG is decoded once: the closer look frames the first look's pixels again.
    let decodes = 0;
    const decoder = {
      ...runtime.decoder,
      decode: (...a: Parameters<ImageDecoder['decode']>) => (decodes++, runtime.decoder.decode(...a)),
    };
    const result = await checkImage(new Uint8Array(png), { entry, session: c.session }, decoder, LIMITS);
    expect(c.looks).toBe(2);
    expect(decodes).toBe(1);
    expect(result.score).toBeCloseTo(Math.max(first, closer), 5);
    // A closer look on views of its own (closerLook.views): there the four flips (one batch of 4), the first look
    // still the model's mirror (a batch of 2); the score the higher look's.
    const closerFlips = await scoreOf(framedInputs(pixels, 'content', 256).input, { ...probe, views: 'flips' });
    expect(Math.abs(closerFlips - closer)).toBeGreaterThan(1e-5);
    const flipsEntry: ModelEntry = { ...entry, closerLook: { ...closerLook, views: 'flips' } };
    const batches: number[] = [];
    const recording: InferenceSession = { run: (input, n) => (batches.push(n), session.run(input, n)), release: async () => {} };
    const withFlips = await checkImage(new Uint8Array(png), { entry: flipsEntry, session: recording }, runtime.decoder, LIMITS);
    expect(batches).toEqual([2, 4]);
    expect(withFlips.score).toBeCloseTo(Math.max(first, closerFlips), 5);
    // At a threshold between the two looks' scores the photo is flagged, the box read from the look that
    // flagged (the first look alone when it is the higher), in the photo's pixels.
    const [low, high] = [Math.min(first, closer), Math.max(first, closer)];
    const between: ModelEntry = { ...entry, threshold: (low + high) / 2 };
    const flagged = await checkImage(new Uint8Array(png), { entry: between, session }, runtime.decoder, LIMITS);
    expect(flagged.flagged).toBe(true); // the higher look is above it, whichever look that is
    const box = flagged.box!;
    const damage = DAMAGE;
    const overlap =
      Math.max(0, Math.min(box.x + box.width, damage.x + damage.w) - Math.max(box.x, damage.x)) *
      Math.max(0, Math.min(box.y + box.height, damage.y + damage.h) - Math.max(box.y, damage.y));
    expect(overlap / (box.width * box.height + damage.w * damage.h - overlap)).toBeGreaterThan(0.5);
  });

  it('stops at the first look below the start, and at one that flags: one look, its score', async () => {
    const { png, pixels } = await damagedProduct();
    const probe: ModelEntry = { ...base, framing: 'content', closerLook: undefined };
    const first = await scoreOf(framedInputs(pixels, 'content', inputSizeOf(base)).input, probe);
    const below: ModelEntry = {
      ...probe,
      threshold: 0.9999999,
      thresholds: undefined,
      closerLook: { inputSize: 256, above: Math.min(0.999999, first + 1e-4) },
    };
    const flags: ModelEntry = {
      ...probe,
      threshold: first / 2,
      thresholds: undefined,
      closerLook: { inputSize: 256, above: first / 4 },
    };
    for (const entry of [below, flags]) {
      const c = counting();
      const result = await checkImage(new Uint8Array(png), { entry, session: c.session }, runtime.decoder, LIMITS);
      expect(result.score).toBeCloseTo(first, 5);
      expect(c.looks).toBe(1);
    }
  });

  it('the shipped default takes it from its manifest, with an ONNX input of any side', () => {
    expect(base.closerLook).toEqual({ inputSize: 256, above: expect.any(Number) });
    expect(base.closerLook!.above).toBeLessThanOrEqual(base.thresholds!.high);
  });
});
