/** `blankspot export`: a checkpoint to ONNX, checked against the trainer; thresholds; publishing to a manifest. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { PROTOCOLS, useBackend, type Protocol } from '@blankspot/training';
import { positiveInt, positiveNumber } from '../options.js';
import { VIEWS, type Views } from '@blankspot/core';
import type { WeightType } from '@blankspot/export';

/** The command and its options. */
function defineExport(program: Command): Command {
  return program
    .command('export')
    .description('export a trained checkpoint to ONNX, checked against the trainer; optionally publish it to a models/ manifest')
    .argument('<checkpoint>', 'a run folder written by blankspot train (model.json + weights.bin)')
    .option('--out <file>', 'ONNX file to write (default: <name>.onnx)')
    .option('--name <name>', 'model name (default: the network name)')
    .option('--model-version <version>', 'model version', '1.0.0')
    .option(
      '--manifest <file>',
      'add the model to this manifest (the ONNX file must be in the same folder) and write its model card',
    )
    .option('--default', 'make it the manifest default')
    .option('--rescore', "score the checkpoint again on its own test split with today's code (e.g. the box reader)")
    .option(
      '--false-alarm-target <rate>',
      'choose the thresholds on the validation split: at most this share of clean images flagged (e.g. 0.01)',
      positiveNumber,
    )
    .option('--operating-set <set>', 'the data set whose clean images the target applies to (default: products)')
    .addOption(
      new Option(
        '--operating-protocol <protocol>',
        "choose the thresholds on a validation set built under this protocol instead of the checkpoint's own",
      ).choices([...PROTOCOLS]),
    )
    .option('--operating-size <n>', 'images in that validation set', positiveInt, 4000)
    .option(
      '--operating-catalogue <dir>',
      'choose the thresholds on this catalogue of real files instead: images and a labels.csv (file,kind,damaged), ' +
        'as `npm run eval:uploads -- --split val --compose-only` writes; never photos the model trained on',
    )
    .option(
      '--calibrate',
      'calibrate the score on the operating catalogue (Platt scaling written into the graph) before choosing thresholds there',
    )
    .addOption(
      new Option(
        '--views <views>',
        'what the model is run on: single; mirror (the input and its mirror image, mean logit); flips (its four flips ' +
          'left-right and top-bottom, mean logit); thresholds are chosen on the same',
      )
        .choices([...VIEWS])
        .default('single'),
    )
    .option(
      '--closer-look <side>',
      'a closer look for suspect photos: one scoring --closer-look-above or more on the first look is looked at again on a ' +
        'side x side input (fully convolutional localisers; thresholds chosen with it, on a catalogue)',
      positiveInt,
    )
    .option('--closer-look-above <score>', "the first look's score from which the closer look is taken", positiveNumber, 0.2)
    .addOption(
      new Option(
        '--weights <type>',
        'how the weights are stored: float32, or float16 (half the file; the weights rounded to float16 first, ' +
          'and every check and threshold made on the rounded network)',
      )
        .choices(['float32', 'float16'])
        .default('float32'),
    )
    .addOption(
      new Option(
        '--closer-look-views <views>',
        "what the closer look runs on (default: --views'): only suspect photos take it",
      ).choices([...VIEWS]),
    );
}

export function registerExport(program: Command): void {
  defineExport(program).action(async (checkpoint: string, o) => {
    // Loaded on demand: ONNX Runtime is heavy and only this command needs it.
    const { exportCheckpoint, plattText, publishModel } = await import('@blankspot/export');
    await useBackend('auto');
    const name = (o.name as string | undefined) ?? undefined;
    const result = await exportCheckpoint(
      resolve(checkpoint),
      resolve((o.out as string | undefined) ?? `${name ?? 'model'}.onnx`),
      {
        name,
        version: o.modelVersion,
        rescore: Boolean(o.rescore),
        falseAlarmTarget: o.falseAlarmTarget as number | undefined,
        operatingSet: o.operatingSet as string | undefined,
        operatingProtocol: o.operatingProtocol as Protocol | undefined,
        operatingSize: o.operatingSize as number,
        views: o.views as Views,
        ...(o.closerLook != null
          ? {
              closerLook: {
                inputSize: o.closerLook as number,
                above: o.closerLookAbove as number,
                ...(o.closerLookViews != null ? { views: o.closerLookViews as Views } : {}),
              },
            }
          : {}),
        operatingCatalogue: o.operatingCatalogue ? resolve(o.operatingCatalogue as string) : undefined,
        cacheDir: resolve('.cache/datasets'),
        calibrate: Boolean(o.calibrate),
        weights: o.weights as WeightType,
      },
    );
    console.log(
      `wrote ${result.path}: ${result.network}, ${result.bytes} bytes, sha256 ${result.sha256}; ` +
        `ONNX Runtime vs TensorFlow.js max |diff| ${result.maxAbsDiff.toExponential(2)} on ${result.probeCount} inputs`,
    );
    const cal = result.calibration;
    if (cal) {
      console.log(
        `calibrated on ${cal.fittedOn}: prob = softmax(0, ${plattText(cal)}); ` +
          `expected calibration error ${cal.before.ece.toFixed(3)} -> ${cal.after.ece.toFixed(3)}`,
      );
    }
    const op = result.operatingPoint;
    if (op) {
      console.log(
        `thresholds on ${op.chosenOn}: ` +
          (['high', 'balanced', 'low'] as const)
            .map(
              (s) =>
                `${s} ${op.thresholds[s].toFixed(4)} (false alarms ${(100 * op.falseAlarms[s]).toFixed(2)}%, recall ${(100 * op.recall[s]).toFixed(2)}%)`,
            )
            .join(', '),
      );
    }
    if (o.manifest) {
      const manifest = await publishModel(result, resolve(o.manifest), Boolean(o.default));
      console.log(`updated ${o.manifest}: ${manifest.models.length} models, default ${manifest.default}`);
    }
  });
}
