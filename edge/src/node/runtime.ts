/** The Node adapter: models from a folder on disk, sharp for images, onnxruntime-node for inference. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlankspotError, LIMITS, parseManifest, type ModelRuntime } from '@blankspot/core';
import { sharpDecoder } from './decode.js';
import { createNodeSession } from './onnx.js';

/** The repo's shipped models. */
export const REPO_MODELS_DIR = resolve(fileURLToPath(new URL('../../../models', import.meta.url)));

export function createNodeRuntime(options: { modelsDir?: string; maxPixels?: number } = {}): ModelRuntime {
  const dir = options.modelsDir ?? REPO_MODELS_DIR;
  return {
    name: 'node',
    decoder: sharpDecoder({ maxPixels: options.maxPixels ?? LIMITS.maxPixels }),
    async readManifest() {
      let text: string;
      try {
        text = await readFile(join(dir, 'manifest.json'), 'utf8');
      } catch {
        throw new BlankspotError('BAD_MODEL_FILE', `no models/manifest.json in ${dir}`);
      }
      try {
        return parseManifest(JSON.parse(text));
      } catch (e) {
        if (e instanceof BlankspotError) throw e;
        throw new BlankspotError('BAD_MODEL_FILE', `${join(dir, 'manifest.json')} is not valid JSON`);
      }
    },
    async readModelFile(file) {
      try {
        return new Uint8Array(await readFile(join(dir, file)));
      } catch {
        throw new BlankspotError('BAD_MODEL_FILE', `model file ${file} is missing from ${dir}`);
      }
    },
    createSession: (bytes) => createNodeSession(bytes),
  };
}
