/** Publishing exported models into a models/ folder: the ONNX file, its manifest entry and a model card. */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  DEFAULT_THRESHOLD,
  INPUT_SIZE,
  MANIFEST_VERSION,
  inputSizeOf,
  parseManifest,
  type ModelEntry,
  type ModelManifest,
} from '@blankspot/core';
import { reliabilitySvg, type ReliabilityBin } from '@blankspot/training';
import type { ExportResult } from './export.js';

function metrics(json: string): ModelEntry['metrics']['validation'] | undefined {
  if (!json) return undefined;
  const m = JSON.parse(json) as ModelEntry['metrics']['validation'];
  return { accuracy: m.accuracy, loss: m.loss, perSet: m.perSet, ...(m.localisation ? { localisation: m.localisation } : {}) };
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
    ...(md.seed ? { seed: md.seed } : {}),
    threshold: result.operatingPoint?.thresholds.balanced ?? DEFAULT_THRESHOLD,
    ...(result.operatingPoint
      ? {
          thresholds: result.operatingPoint.thresholds,
          operatingPoint: {
            falseAlarmTargets: result.operatingPoint.falseAlarmTargets,
            chosenOn: result.operatingPoint.chosenOn,
            falseAlarms: result.operatingPoint.falseAlarms,
            recall: result.operatingPoint.recall,
          },
        }
      : {}),
    ...(result.calibration
      ? {
          calibration: {
            method: result.calibration.method,
            scale: result.calibration.scale,
            shift: result.calibration.shift,
            fittedOn: result.calibration.fittedOn,
            ece: result.calibration.after.ece,
            eceBefore: result.calibration.before.ece,
          },
        }
      : {}),
    localises: result.localises,
    ...(result.framing === 'content' ? { framing: result.framing } : {}),
    ...(result.inputSize !== INPUT_SIZE ? { inputSize: result.inputSize } : {}),
    ...(result.views !== 'single' ? { views: result.views } : {}),
    ...(result.closerLook ? { closerLook: result.closerLook } : {}),
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

/** `scale z + shift` as people write it. */
export function plattText({ scale, shift }: { scale: number; shift: number }): string {
  return `${scale.toPrecision(4)} z ${shift < 0 ? '-' : '+'} ${Math.abs(shift).toPrecision(4)}`;
}

/** The reliability figure's file name, next to the card. */
export function reliabilityFigure(entry: Pick<ModelEntry, 'name'>): string {
  return `${entry.name}-reliability.svg`;
}

function calibrationText(entry: ModelEntry, result: ExportResult): string {
  const c = result.calibration;
  if (!c) return '';
  const row = (b: ReliabilityBin, a: ReliabilityBin) =>
    `| ${b.from.toFixed(1)}-${b.to.toFixed(1)} | ${b.count} | ${b.count ? pct(b.damaged) : '-'} | ${a.count} | ${a.count ? pct(a.damaged) : '-'} |`;
  return `
## Calibration

The score is calibrated: Platt scaling of the network's anomaly logit z, \`prob = softmax(0, ${plattText(c)})\`,
is part of the ONNX graph, so every runtime reads the same calibrated score. It was fitted on ${c.fittedOn},
half of them damaged: a score of 0.8 means that about 8 in 10 photos scoring near it there were damaged. Where
damage is rarer than one photo in two, as in real catalogues, the same score means proportionally lower odds;
the thresholds are chosen for false-alarm rates, which do not depend on how common damage is. Expected
calibration error there: ${c.before.ece.toFixed(3)} before, ${c.after.ece.toFixed(3)} after.

![reliability](${reliabilityFigure(entry)})

| score | photos, network's own score | damaged among them | photos, calibrated | damaged among them |
|---|---|---|---|---|
${c.before.bins.map((b, i) => row(b, c.after.bins[i])).join('\n')}
`;
}

function operatingPointText(entry: ModelEntry): string {
  const op = entry.operatingPoint;
  if (!op || !entry.thresholds) return ' (not chosen for a false-alarm rate).';
  const rows = (['high', 'balanced', 'low'] as const)
    .map(
      (s) =>
        `| ${s} | ${entry.thresholds![s].toFixed(4)} | ${pct(op.falseAlarmTargets[s])} | ${pct(op.falseAlarms[s])} | ${pct(op.recall[s])} |`,
    )
    .join('\n');
  return `, the \`balanced\` sensitivity. Thresholds were chosen on ${op.chosenOn} for a false-alarm rate:

| sensitivity (\`?sensitivity=\`) | threshold | false alarms aimed at | false alarms there | recall on visible damage there |
|---|---|---|---|---|
${rows}
`;
}

/** A short model card in Markdown. */
export function modelCard(entry: ModelEntry, result: ExportResult): string {
  const md = result.metadata;
  const rows = (m?: ModelEntry['metrics']['validation']) =>
    Object.entries(m?.perSet ?? {})
      .map(
        ([set, s]) =>
          `| ${set} | ${s.count} | ${pct(s.accuracy)} |` + (entry.localises ? ` ${pct(s.localisation?.iouAtLeast07)} |` : ''),
      )
      .join('\n');
  const localisation = entry.metrics.test?.localisation;
  const side = inputSizeOf(entry);
  return `# ${entry.name} ${entry.version}

${md.architecture}

- File: \`${entry.file}\` (${entry.size} bytes, sha256 \`${entry.sha256}\`), ONNX opset 13.
- Input \`image\`: float32 [N,1,${entry.closerLook ? `H,W] (trained on ${md.trained_side ?? side}x${md.trained_side ?? side}, run on ${side}x${side} and ${entry.closerLook.inputSize}x${entry.closerLook.inputSize})` : `${side},${side}]`} in [0,1]; output \`prob\`: float32 [N,2], column 1 = a white rectangle was added.${
    entry.localises
      ? `\n- Output \`heatmap\`: float32 [N,1,H,W], for each cell of (${side}/H)x(${side}/W) input pixels the share of it the rectangle covers; ` +
        'the API and the widget read the box from it (`boxFromHeatmap` in @blankspot/core).'
      : ''
  }
- Preprocessing: ${md.preprocessing}.${
    entry.views === 'mirror' || entry.views === 'flips'
      ? `\n- Views (\`views: ${entry.views}\` in the manifest): every runtime runs ${
          entry.views === 'mirror'
            ? 'the input and its left-right mirror image'
            : 'the input flipped four ways (as it is, left-right, top-bottom, both)'
        }; the score is the mean of their logits, the heatmap the mean of theirs, each flipped back (\`runModel\` in @blankspot/core). ` +
        'The thresholds were chosen on these scores.'
      : ''
  }${
    entry.closerLook
      ? `\n- CloserLook (\`closerLook\` in the manifest): a photo scoring ${entry.closerLook.above} or more and below the threshold is looked at again on a ${entry.closerLook.inputSize}x${entry.closerLook.inputSize} input of the same framing (the network is fully convolutional; the ONNX input's side is declared as any); its score is the higher of the two looks', its box read from that look (\`checkImage\` in @blankspot/core)${
          entry.closerLook.views != null && entry.closerLook.views !== entry.views
            ? `; the closer look runs on \`${entry.closerLook.views}\``
            : ''
        }. ` + 'The thresholds were chosen on these scores.'
      : ''
  }
- Trained by \`blankspot train\` on ${entry.data} under the ${entry.protocol} protocol, recipe: ${md.training}.${
    md.initialised_from ? ` Fine-tuned: started from the weights of \`${md.initialised_from}\`.` : ''
  }${md.pretrained_from ? `\n- Pretrained layers, kept as they came (their licence applies to them): ${md.pretrained_from}.` : ''}${
    md.weights?.startsWith('float16')
      ? '\n- Weights stored as float16, half the bytes: the trained weights rounded, each cast to float32 in the graph (runtimes fold the casts when they load the file); every check and figure here is of the rounded network.'
      : ''
  }
- Trained ${entry.trainedAt}; exported ${md.exported_at}; ONNX Runtime matches TensorFlow.js within ${result.maxAbsDiff.toExponential(1)} on ${result.probeCount} inputs.
- Decision threshold: ${entry.threshold}${operatingPointText(entry)}

${calibrationText(entry, result)}
## Scores

Validation accuracy ${pct(entry.metrics.validation.accuracy)}; test accuracy ${pct(entry.metrics.test?.accuracy)}
(test photos and cut-outs never seen in training).${
    localisation
      ? ` Of the ${localisation.detected} visible rectangles it detected in the test set, ${pct(localisation.iouAtLeast07)} got a box ` +
        `overlapping the true one with IoU >= 0.7 (mean IoU ${localisation.meanIou.toFixed(3)}).`
      : ''
  }

| test set | images | accuracy |${entry.localises ? ' boxes with IoU >= 0.7 |' : ''}
|---|---|---|${entry.localises ? '---|' : ''}
${rows(entry.metrics.test)}

## Limits

Trained on ${side}x${side} greyscale views, so it sees rectangles that stay visible at that size (roughly 1/${side / 8} of
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
  if (result.calibration) {
    const figure = await reliabilitySvg([`${entry.name} ${entry.version}: reliability`, `on ${result.calibration.fittedOn}`], {
      "network's own score": result.calibration.before.bins,
      calibrated: result.calibration.after.bins,
    });
    await writeFile(join(dirname(manifestPath), reliabilityFigure(entry)), figure);
  }
  return next;
}
