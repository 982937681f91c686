import { cp, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { LIMITS, inputSizeOf, jpegToInput, verifyModelBytes } from '@blankspot/core';
import { REPO_MODELS_DIR, closeJpegThreads, createNodeRuntime, sharpDecoder } from './index.js';

afterAll(closeJpegThreads);

describe('the Node runtime adapter', () => {
  it("reads the shipped manifest and the default's file, and runs it: two class probabilities and a heatmap", async () => {
    const runtime = createNodeRuntime();
    const manifest = await runtime.readManifest();
    const entry = manifest.models.find((m) => m.name === manifest.default)!;
    const bytes = await runtime.readModelFile(entry.file);
    expect(() => verifyModelBytes(entry, bytes)).not.toThrow();
    const session = await runtime.createSession(bytes, entry);
    try {
      const side = inputSizeOf(entry);
      const out = await session.run(new Float32Array(2 * side * side).fill(1), 2);
      expect(out.prob.length).toBe(4);
      expect(out.prob[0] + out.prob[1]).toBeCloseTo(1, 5);
      expect([out.heatmap?.height, out.heatmap?.width, out.heatmap?.data.length]).toEqual([
        side / 8,
        side / 8,
        2 * (side / 8) ** 2,
      ]);
    } finally {
      await session.release();
    }
  });

  it('says which file is missing, with the code every runtime uses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-runtime-'));
    try {
      await cp(REPO_MODELS_DIR, dir, { recursive: true });
      const runtime = createNodeRuntime({ modelsDir: dir });
      const manifest = await runtime.readManifest();
      await unlink(join(dir, manifest.models[0].file));
      await expect(runtime.readModelFile(manifest.models[0].file)).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
      await writeFile(join(dir, 'manifest.json'), '{ not json');
      await expect(runtime.readManifest()).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
      await unlink(join(dir, 'manifest.json'));
      await expect(runtime.readManifest()).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads a large JPEG's blocks on the reader threads exactly as the core does on its own thread", async () => {
    const photo = await sharp({
      create: { width: 1600, height: 1200, channels: 3, background: { r: 200, g: 120, b: 40 } },
    })
      .composite([
        {
          input: Buffer.from('<svg width="400" height="300"><rect width="400" height="300" fill="white"/></svg>'),
          left: 300,
          top: 200,
        },
      ])
      .jpeg({ quality: 90 })
      .toBuffer();
    const bytes = new Uint8Array(photo);
    const decoder = sharpDecoder(LIMITS);
    const onThreads = await decoder.jpegToInput!(bytes, 1, 'full', 128);
    const inline = jpegToInput(bytes, 1, 'full', 128);
    expect(onThreads).not.toBeNull();
    expect(Array.from(onThreads!.input)).toEqual(Array.from(inline!.input));
  });

  it('decodes a CMYK JPEG through the shared pure-JS decoder, and refuses a truncated one as undecodable', async () => {
    const cmyk = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 90 } } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const decoder = sharpDecoder(LIMITS);
    const image = await decoder.decode(new Uint8Array(cmyk), { type: 'image/jpeg', width: 64, height: 48 });
    expect([image.width, image.height]).toEqual([64, 48]);
    // Green stays green (within the CMYK round trip).
    expect(image.data[1]).toBeGreaterThan(image.data[0] + 100);
    await expect(
      decoder.decode(new Uint8Array(cmyk.subarray(0, 200)), { type: 'image/jpeg', width: 64, height: 48 }),
    ).rejects.toMatchObject({ code: 'UNDECODABLE_IMAGE' });
  });
});
