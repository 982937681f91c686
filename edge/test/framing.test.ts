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
  type InferenceSession,
  type ModelEntry,
  type ModelInput,
} from '@blankspot/core';
import { REPO_MODELS_DIR, createNodeRuntime } from '../src/node/index.js';
import { closeJpegThreads } from '../src/node/jpeg-pool.js';

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
  const framed: ModelEntry = { ...base, framing: 'content' };
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
