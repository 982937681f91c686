import { describe, expect, it } from 'vitest';
import { modelFolder } from './pipeline/model-folder.js';

const manifest = {
  version: 1,
  default: 'm',
  models: [{ name: 'm', version: '1', file: 'm.onnx', sha256: 'a'.repeat(64), size: 3, threshold: 0.5, localises: false }],
};
const utf8 = (s: string) => new Uint8Array(Buffer.from(s));

describe('modelFolder: one way to read a models folder on every runtime', () => {
  it('parses the manifest and hands over model bytes as read', async () => {
    const files: Record<string, Uint8Array> = { 'manifest.json': utf8(JSON.stringify(manifest)), 'm.onnx': utf8('abc') };
    const folder = modelFolder(async (f) => files[f] ?? null, 'here/');
    expect((await folder.readManifest()).default).toBe('m');
    expect(Array.from(await folder.readModelFile('m.onnx'))).toEqual([97, 98, 99]);
  });

  it('calls a missing or broken file BAD_MODEL_FILE, naming the folder', async () => {
    const empty = modelFolder(async () => null, 'https://cdn.example/models/');
    await expect(empty.readManifest()).rejects.toMatchObject({
      code: 'BAD_MODEL_FILE',
      message: 'no manifest.json in https://cdn.example/models/',
    });
    await expect(empty.readModelFile('m.onnx')).rejects.toMatchObject({
      code: 'BAD_MODEL_FILE',
      message: 'model file m.onnx is missing from https://cdn.example/models/',
    });
    const garbled = modelFolder(async () => utf8('{ "version": '), 'here/');
    await expect(garbled.readManifest()).rejects.toMatchObject({
      code: 'BAD_MODEL_FILE',
      message: expect.stringContaining('not valid JSON'),
    });
    const wrong = modelFolder(async () => utf8(JSON.stringify({ ...manifest, version: 9 })), 'here/');
    await expect(wrong.readManifest()).rejects.toMatchObject({ code: 'BAD_MODEL_FILE' });
  });

  it("passes the reader's own error through: an unreachable folder is not a missing file", async () => {
    const offline = modelFolder(async () => {
      throw Object.assign(new Error('offline'), { code: 'MODEL_UNAVAILABLE' });
    }, 'here/');
    await expect(offline.readManifest()).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
  });
});
