/**
 * `npm run eval:uploads`: the README's figures on real uploads. Composes a held-out catalogue with the
 * independent compositor, starts the API on the shipped models and posts every file through it.
 *   node test/dist/eval-uploads.js [--products N] [--photos N] [--seed S] [--dir DIR] [--reuse]
 *     [--sensitivity s ...] [--model NAME] [--models DIR] [--split test|val] [--compose-only] [--box-oracle]
 *     [--layouts all|white]
 * `--layouts all` (the default) composes products in every layout the compositor makes (on white, padded onto
 * white, collages) and reports each; `--layouts white` only cut-outs on white, as catalogues before.
 * `--box-oracle` also boxes the caught rectangles by an oracle reader that reads every side that shows
 * exactly (test/uploads/box_oracle.py; about a twentieth of a second per damaged photo).
 * `--split val --compose-only` writes a calibration catalogue from the validation split's sources (never
 * the test split's) for `blankspot export --operating-catalogue DIR`, and stops there.
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '@blankspot/core';
import { startNodeServer } from '@blankspot/edge/node';
import { composeUploads, judgeUploads, oracleBoxes, readLabels, uploadsTable, type OracleBox } from './uploads.js';

const { values } = parseArgs({
  options: {
    products: { type: 'string', default: '4000' },
    photos: { type: 'string', default: '4000' },
    seed: { type: 'string', default: '7' },
    dir: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    sensitivity: { type: 'string', multiple: true },
    model: { type: 'string' },
    models: { type: 'string' },
    split: { type: 'string', default: 'test' },
    'compose-only': { type: 'boolean', default: false },
    'box-oracle': { type: 'boolean', default: false },
    layouts: { type: 'string', default: 'all' },
  },
});
if (values.split !== 'test' && values.split !== 'val') throw new Error(`--split is test or val, not ${values.split}`);
if (values.layouts !== 'white' && values.layouts !== 'all') throw new Error(`--layouts is white or all, not ${values.layouts}`);
const layouts = values.layouts;
const split = values.split;
const modelsDir = values.models ?? fileURLToPath(new URL('../../models/', import.meta.url));
const manifest = parseManifest(JSON.parse(await readFile(join(modelsDir, 'manifest.json'), 'utf8')));
const modelName = values.model ?? manifest.default;
const modelSeed = manifest.models.find((m) => m.name === modelName)?.seed ?? '2026';
const dir =
  values.dir ?? join(tmpdir(), `blankspot-uploads-${split}-${layouts}-${values.seed}-${values.products}-${values.photos}`);
const started = Date.now();
const labels = values.reuse
  ? await readLabels(dir)
  : await composeUploads(dir, {
      products: Number(values.products),
      photos: Number(values.photos),
      seed: Number(values.seed),
      modelSeed,
      split,
      layouts,
    });
console.error(
  `composed ${labels.length} uploads from the ${split} split's sources in ${dir} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
);
if (values['compose-only']) process.exit(0);
let oracle: Map<string, OracleBox> | undefined;
if (values['box-oracle']) {
  const t0 = Date.now();
  oracle = await oracleBoxes(dir);
  console.error(`oracle boxes of ${oracle.size} damaged photos (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
const server = await startNodeServer({ port: 0, modelsDir, config: { maxQueue: 10_000 } });
try {
  for (const sensitivity of values.sensitivity ?? ['balanced']) {
    const rows = await judgeUploads(server.url, dir, labels, { sensitivity, model: modelName, oracle });
    // A reused catalogue was composed by whatever seed made it: name its folder, not this run's --seed.
    const origin = values.reuse ? `catalogue ${dir}` : `compositor seed ${values.seed}`;
    console.log(`\n${modelName}, sensitivity ${sensitivity}, ${labels.length} uploads (${origin}):\n`);
    console.log(uploadsTable(rows, 'photos'));
  }
} finally {
  await server.close();
}
