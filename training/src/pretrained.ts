/**
 * Weights trained elsewhere, stored in training/pretrained/ with where they came from: a network's
 * `pretrained` parameters start from them (`initParams`, `growValues`).
 */
import { readFileSync } from 'node:fs';

interface PretrainedFile {
  source: string;
  layers: string;
  input: string;
  params: Record<string, { shape: number[]; values: string }>;
}

/** MobileNetV2's first blocks from the nsfwjs package (training/scripts/extract-mobilenet.mjs). */
export const MOBILENET_FILE = 'mobilenet-v2-blocks.json';

const loaded = new Map<string, PretrainedFile>();

function pretrainedFile(file: string): PretrainedFile {
  let f = loaded.get(file);
  if (f == null) {
    f = JSON.parse(readFileSync(new URL(`../pretrained/${file}`, import.meta.url), 'utf8')) as PretrainedFile;
    loaded.set(file, f);
  }
  return f;
}

/** Where a pretrained file's weights came from, its licence included (for model cards). */
export function pretrainedSource(file: string): string {
  return pretrainedFile(file).source;
}

/** One parameter's stored values; throws when the file lacks it or its shape differs. */
export function pretrainedValues(file: string, name: string, shape: readonly number[]): Float32Array {
  const p = pretrainedFile(file).params[name];
  if (p == null) throw new Error(`${file} has no parameter ${name}`);
  if (p.shape.join('x') !== shape.join('x'))
    throw new Error(`${file}: ${name} is ${p.shape.join('x')}, ${shape.join('x')} wanted`);
  const bytes = Buffer.from(p.values, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
