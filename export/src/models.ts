/** Publishing exported models into a models/ folder: the ONNX file, its manifest entry and a model card. */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_THRESHOLD, MANIFEST_VERSION, parseManifest, type ModelEntry, type ModelManifest } from '@blankspot/core';
import type { ExportResult } from './export.js';

function metrics(json: string): ModelEntry['metrics']['validation'] | undefined {
  if (!json) return undefined;
  const m = JSON.parse(json) as { accuracy: number; loss?: number; perSet?: ModelEntry['metrics']['validation']['perSet'] };
  return { accuracy: m.accuracy, loss: m.loss, perSet: m.perSet };
}

/** The manifest entry for an exported file (which must sit in the manifest's folder). */
export function manifestEntry(result: ExportResult): ModelEntry {
  const md = result.metadata;
  return {
    name: md.name,
    version: md.version,
    file: basename(result.path),
    sha256: result.sha256,
    size: result.bytes,
    network: result.network,
    recipe: md.recipe,
    protocol: md.protocol,
    data: md.data,
    threshold: DEFAULT_THRESHOLD,
    localises: false,
    metrics: {
      validation: {
        accuracy: Number(md.validation_accuracy),
        perSet: md.validation_per_set ? JSON.parse(md.validation_per_set) : undefined,
      },
      test: metrics(md.test),
    },
    trainedAt: md.trained_at,
    card: `${md.name}.md`,
  };
}

function pct(v: number | undefined): string {
  return v == null || Number.isNaN(v) ? 'n/a' : `${(100 * v).toFixed(2)}%`;
}

/** A short model card in Markdown. */
export function modelCard(entry: ModelEntry, result: ExportResult): string {
  const md = result.metadata;
  const rows = (m?: ModelEntry['metrics']['validation']) =>
    Object.entries(m?.perSet ?? {})
      .map(([set, s]) => `| ${set} | ${s.count} | ${pct(s.accuracy)} |`)
      .join('\n');
  return `# ${entry.name} ${entry.version}

${md.architecture}

- File: \`${entry.file}\` (${entry.size} bytes, sha256 \`${entry.sha256}\`), ONNX opset 13.
- Input \`image\`: float32 [N,1,64,64] in [0,1]; output \`prob\`: float32 [N,2], column 1 = a white rectangle was added.
- Preprocessing: ${md.preprocessing}.
- Trained by \`blankspot train\` on ${entry.data} under the ${entry.protocol} protocol, recipe: ${md.training}.
- Trained ${entry.trainedAt}; exported ${md.exported_at}; ONNX Runtime matches TensorFlow.js within ${result.maxAbsDiff.toExponential(1)} on ${result.probeCount} inputs.
- Decision threshold: ${entry.threshold}.

## Scores

Validation accuracy ${pct(entry.metrics.validation.accuracy)}; test accuracy ${pct(entry.metrics.test?.accuracy)}
(test photos and cut-outs never seen in training).

| test set | images | accuracy |
|---|---|---|
${rows(entry.metrics.test)}

## Limits

Trained on 64x64 greyscale views, so it sees rectangles that stay visible at that size (roughly 1/8 of
the image side or more). A rectangle pasted on an area that was already pure white cannot be seen by
anyone; on products photographed on white this caps the accuracy any model can reach.
`;
}

/** Adds or replaces the model in `manifestPath` (created if missing) and writes its card. */
export async function publishModel(result: ExportResult, manifestPath: string, makeDefault: boolean): Promise<ModelManifest> {
  if (dirname(result.path) !== dirname(manifestPath)) throw new Error('the ONNX file must be written next to the manifest');
  let manifest: ModelManifest | null = null;
  try {
    manifest = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const entry = manifestEntry(result);
  const models = (manifest?.models ?? []).filter((m) => m.name !== entry.name);
  models.push(entry);
  models.sort((a, b) => a.name.localeCompare(b.name));
  const next: ModelManifest = {
    version: MANIFEST_VERSION,
    default: makeDefault || manifest == null ? entry.name : manifest.default,
    models,
  };
  parseManifest(next);
  await writeFile(manifestPath, JSON.stringify(next, null, 2) + '\n');
  await writeFile(join(dirname(manifestPath), entry.card!), modelCard(entry, result));
  return next;
}
