/** `blankspot evaluate`: the shipped ONNX files scored on held-out test sets at their own thresholds. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { BlankspotError } from '@blankspot/core';
import { DATASET_NAMES, PROTOCOLS, type DatasetName, type Protocol } from '@blankspot/training';
import { list, positiveInt, dataOptions } from '../options.js';

export function registerEvaluate(program: Command): void {
  dataOptions(
    program
      .command('evaluate')
      .description(
        'score the shipped ONNX models on fresh test sets: accuracy vs the Bayes ceiling, recall, false positives, boxes',
      )
      .option('--manifest <file>', 'models manifest', 'models/manifest.json')
      .option('--model <names>', 'only these models (comma-separated)')
      .addOption(
        new Option('--data <sets>', `test sets, joined with +; ${DATASET_NAMES.join(', ')} or mix`)
          .default([...DATASET_NAMES], 'mix')
          .argParser((v: string) => (v === 'mix' ? [...DATASET_NAMES] : list(DATASET_NAMES, 'data set')(v.replace(/\+/g, ',')))),
      )
      .addOption(
        new Option('--protocol <names>', 'paper, realistic, upload, or both (paper and realistic)')
          .default(['paper', 'realistic'], 'both')
          .argParser(list(PROTOCOLS, 'protocol')),
      )
      .option('--test-size <n>', 'test images per protocol', positiveInt, 2000)
      .option('--out <file>', 'also write the table (Markdown) here'),
  ).action(async (o, cmd: Command) => {
    const { evaluateModels, evaluationTable } = await import('@blankspot/export');
    const { parseManifest } = await import('@blankspot/core');
    const { readFile } = await import('node:fs/promises');
    // Splits into train/val/test follow the seed: test on the models' own, so no test photo was seen in training.
    let seed = o.seed as string;
    if (cmd.getOptionValueSource('seed') === 'default' && !o.catalogue) {
      const manifest = parseManifest(JSON.parse(await readFile(resolve(o.manifest), 'utf8')));
      const names = o.model ? String(o.model).split(',') : null;
      const seeds = new Set(manifest.models.filter((m) => !names || names.includes(m.name)).map((m) => m.seed));
      if (seeds.size !== 1 || [...seeds][0] == null) {
        throw new BlankspotError('BAD_TRAINING_INPUT', 'the models were trained with different or unknown seeds: pass --seed');
      }
      seed = [...seeds][0]!;
    }
    const rows = await evaluateModels(resolve(o.manifest), {
      sets: o.data as DatasetName[],
      protocols: o.protocol as Protocol[],
      seed,
      testSize: o.testSize as number,
      photosDir: o.photos,
      cutoutsDir: o.cutouts,
      catalogueDir: o.catalogue,
      models: o.model ? String(o.model).split(',') : undefined,
      cacheDir: resolve('.cache/datasets'),
    });
    const table = evaluationTable(rows);
    process.stdout.write(table);
    if (o.out) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(resolve(o.out), table);
    }
  });
}
