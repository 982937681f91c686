/**
 * Checkpoints: a folder with `model.json` (the network, how it was trained, how it scored, and
 * where each parameter sits in the weights file) and `weights.bin` (float32, little-endian).
 * The exporter reads exactly this.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlankspotError } from '@blankspot/core';
import { NETWORKS, isNetworkName, type NetworkName, type Params } from './networks.js';

export const CHECKPOINT_FORMAT = 'blankspot-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  network: NetworkName;
  /** Anything that says how the model was made and how it scored: recipe, data, metrics, date. */
  training: Record<string, unknown>;
  params: Array<{ name: string; shape: number[]; offset: number; length: number }>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  values: Record<string, Float32Array>;
}

export async function saveCheckpoint(
  dir: string,
  network: NetworkName,
  params: Params,
  training: Record<string, unknown>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries: CheckpointMeta['params'] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const p of NETWORKS[network].params) {
    const values = params[p.name].dataSync() as Float32Array;
    entries.push({ name: p.name, shape: p.shape, offset, length: values.length });
    chunks.push(Float32Array.from(values));
    offset += values.length;
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const meta: CheckpointMeta = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, network, training, params: entries };
  await writeFile(join(dir, 'weights.bin'), new Uint8Array(all.buffer));
  await writeFile(join(dir, 'model.json'), JSON.stringify(meta, null, 2) + '\n');
}

function bad(message: string, cause?: unknown): never {
  throw new BlankspotError('BAD_MODEL_FILE', message, { cause });
}

/** Loads and validates a checkpoint; any missing, unknown or damaged part is a clear BAD_MODEL_FILE error. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as CheckpointMeta;
  } catch (e) {
    bad(`${dir} is not a blankspot checkpoint: model.json is missing or not JSON`, e);
  }
  if (meta?.format !== CHECKPOINT_FORMAT) bad(`${dir}/model.json is not a blankspot checkpoint`);
  if (meta.version !== CHECKPOINT_VERSION)
    bad(`checkpoint version ${meta.version} is not supported (expected ${CHECKPOINT_VERSION})`);
  if (!isNetworkName(String(meta.network))) bad(`unknown network '${meta.network}' in ${dir}/model.json`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, 'weights.bin'));
  } catch (e) {
    bad(`${dir}/weights.bin is missing`, e);
  }
  if (bytes.length % 4 !== 0) bad(`${dir}/weights.bin is truncated`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const values: Record<string, Float32Array> = {};
  for (const p of NETWORKS[meta.network].params) {
    const entry = meta.params?.find((e) => e.name === p.name);
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (entry == null || entry.length !== size || JSON.stringify(entry.shape) !== JSON.stringify(p.shape)) {
      bad(`parameter ${p.name} is missing or has the wrong shape in ${dir}`);
    }
    if (entry.offset + entry.length > all.length) bad(`${dir}/weights.bin is truncated`);
    const v = all.slice(entry.offset, entry.offset + entry.length);
    if (v.some((x) => !Number.isFinite(x))) bad(`parameter ${p.name} in ${dir} holds NaN or infinity`);
    values[p.name] = v;
  }
  return { meta, values };
}
