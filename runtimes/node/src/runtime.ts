/** The Node adapter: models from a folder on disk, sharp for images, onnxruntime-node for inference. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIMITS, modelFolder, type ModelRuntime } from '@blankspot/core';
import { sharpDecoder } from './decode.js';
import { createNodeSession } from './onnx.js';

/** The repo's shipped models. */
export const REPO_MODELS_DIR = resolve(fileURLToPath(new URL('../../../models', import.meta.url)));

export function createNodeRuntime(options: { modelsDir?: string; maxPixels?: number } = {}): ModelRuntime {
  const dir = options.modelsDir ?? REPO_MODELS_DIR;
  return {
    name: 'node',
    decoder: sharpDecoder({ maxPixels: options.maxPixels ?? LIMITS.maxPixels }),
    ...modelFolder(async (file) => {
      try {
        return new Uint8Array(await readFile(join(dir, file)));
      } catch {
        return null;
      }
    }, dir),
    createSession: (bytes) => createNodeSession(bytes),
  };
}
