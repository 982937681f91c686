/**
 * A models folder read the same way on every runtime: each adapter supplies only how one file is read
 * (a file system, a Worker's static assets, fetch), and the manifest's parsing and the error codes are
 * here, so a missing or broken file is BAD_MODEL_FILE wherever it runs.
 */
import { BlankspotError } from '../errors.js';
import { parseManifest } from '../manifest.js';
import type { ModelRuntime } from './ports.js';

declare const TextDecoder: new () => { decode(bytes: Uint8Array): string };

/**
 * `read` answers a file's bytes, or null when the folder has no such file; when the folder cannot be
 * reached at all (a network down) it throws its own error (MODEL_UNAVAILABLE). `where` names the folder
 * in messages.
 */
export function modelFolder(
  read: (file: string) => Promise<Uint8Array | null>,
  where: string,
): Pick<ModelRuntime, 'readManifest' | 'readModelFile'> {
  return {
    async readManifest() {
      const bytes = await read('manifest.json');
      if (bytes == null) throw new BlankspotError('BAD_MODEL_FILE', `no manifest.json in ${where}`);
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new BlankspotError('BAD_MODEL_FILE', `the manifest.json in ${where} is not valid JSON`);
      }
      return parseManifest(json);
    },
    async readModelFile(file) {
      const bytes = await read(file);
      if (bytes == null) throw new BlankspotError('BAD_MODEL_FILE', `model file ${file} is missing from ${where}`);
      return bytes;
    },
  };
}
