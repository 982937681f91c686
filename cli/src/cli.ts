#!/usr/bin/env node
/** The `blankspot` command: train networks and preview data sets. */
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { BlankspotError, isBlankspotError } from '@blankspot/core';
import type { CheckedFile } from './catalogue.js';
import {
  DATASET_NAMES,
  NETWORK_NAMES,
  PROTOCOLS,
  RECIPES,
  buildSplits,
  buildSplitsCached,
  runTraining,
  useBackend,
  writePreviewGrid,
  type BackendName,
  type DataOptions,
  type DatasetName,
  type NetworkName,
  type Protocol,
  type RecipeName,
} from '@blankspot/training';

function list<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T[] => {
    // 'both' is the two protocols that came first (paper and realistic), as it always meant.
    const items = value === 'all' ? [...allowed] : value === 'both' ? allowed.slice(0, 2) : value.split(',').map((s) => s.trim());
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) {
        throw new InvalidArgumentError(`unknown ${what} '${item}' (one of: ${allowed.join(', ')}, all)`);
      }
    }
    return items as T[];
  };
}

/** `binary,solid` means two runs; `binary+solid+photos+products` one run on the mixture. */
function dataList(value: string): DatasetName[][] {
  if (value === 'all') return DATASET_NAMES.map((d) => [d]);
  if (value === 'mix') return [[...DATASET_NAMES]];
  return value.split(',').map((run) => list(DATASET_NAMES, 'data set')(run.replace(/\+/g, ',')));
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive whole number`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`'${value}' is not a positive number`);
  return n;
}

const program = new Command('blankspot').description('blankspot: find white rectangles left in photos by bad retouching');

const dataOptions = (cmd: Command) =>
  cmd
    .option('--seed <seed>', 'seed for data, weights and shuffling', '1')
    .option('--photos <dir>', 'folder of natural photos for the photos set (default: the repo data)')
    .option('--cutouts <dir>', 'folder of RGBA cut-outs for the products set (default: the repo data)')
    .option('--catalogue <dir>', 'your own catalogue images, used as the products set');

dataOptions(
  program
    .command('train')
    .description('train networks; one run per network x data set x protocol')
    .addOption(
      new Option('--network <names>', `networks: ${NETWORK_NAMES.join(', ')} or all`)
        .default([...NETWORK_NAMES], 'all')
        .argParser(list(NETWORK_NAMES, 'network')),
    )
    .addOption(
      new Option('--data <sets>', `data sets, comma = separate runs, + = one mixture; ${DATASET_NAMES.join(', ')}, all or mix`)
        .default(
          DATASET_NAMES.map((d) => [d]),
          'all',
        )
        .argParser(dataList),
    )
    .addOption(
      new Option('--protocol <names>', 'paper, realistic, upload, or both (paper and realistic)')
        .default(['paper'], 'paper')
        .argParser(list(PROTOCOLS, 'protocol')),
    )
    .addOption(new Option('--recipe <name>', 'training recipe').choices(Object.keys(RECIPES)).default('modern'))
    .option('--epochs <n>', 'override the recipe epochs', positiveInt)
    .option('--batch-size <n>', 'override the recipe batch size', positiveInt)
    .option('--lr <rate>', 'override the recipe learning rate', positiveNumber)
    .option('--init <checkpoint>', "start from this run's weights (fine-tuning) instead of fresh ones")
    .option('--train-size <n>', 'training examples', positiveInt, 8000)
    .option('--val-size <n>', 'validation examples', positiveInt, 1000)
    .option('--test-size <n>', 'test examples', positiveInt, 1000)
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    )
    .option('--out <dir>', 'where runs are written', 'runs')
    .option(
      '--cache <dir>',
      'keep generated data sets here and reuse them (they are deterministic from the options)',
      '.cache/datasets',
    )
    .option('--no-cache', 'build the data sets afresh and keep nothing')
    .option('--quiet', 'no progress bar, one line per epoch'),
).action(async (o) => {
  const backend = await useBackend(o.backend as BackendName | 'auto');
  const showBar = !o.quiet && process.stderr.isTTY;
  for (const protocol of o.protocol as Protocol[]) {
    for (const sets of o.data as DatasetName[][]) {
      const data = sets.join('+');
      const counts = { train: o.trainSize as number, val: o.valSize as number, test: o.testSize as number };
      const dataBar = showBar
        ? new cliProgress.SingleBar(
            { format: `data ${data} (${protocol}) |{bar}| {value}/{total} ETA {eta_formatted}` },
            cliProgress.Presets.shades_classic,
          )
        : null;
      dataBar?.start(counts.train + counts.val + counts.test, 0);
      const options: DataOptions = {
        sets,
        protocol,
        seed: o.seed,
        counts,
        photosDir: o.photos,
        cutoutsDir: o.cutouts,
        catalogueDir: o.catalogue,
        onProgress: (done) => dataBar?.update(done),
      };
      const splits = await buildSplitsCached(options, o.cache === false ? undefined : resolve(o.cache));
      dataBar?.stop();
      for (const network of o.network as NetworkName[]) {
        const recipe = RECIPES[o.recipe as RecipeName];
        const epochs = (o.epochs as number | undefined) ?? recipe.epochs;
        const bar = showBar
          ? new cliProgress.SingleBar(
              {
                format: `${network} ${data} ${protocol} |{bar}| epoch {epoch}/${epochs} loss {loss} acc {acc} val {val} ETA {eta_formatted}`,
              },
              cliProgress.Presets.shades_classic,
            )
          : null;
        let batchesPerEpoch = 0;
        let lastVal = '-';
        const { dir, log } = await runTraining(
          splits,
          {
            network,
            recipe: o.recipe,
            protocol,
            data,
            seed: o.seed,
            counts,
            backend,
            epochs: o.epochs,
            batchSize: o.batchSize,
            learningRate: o.lr,
            ...(o.init ? { initFrom: resolve(o.init) } : {}),
          },
          resolve(o.out),
          {
            onBatch: ({ epoch, batch, batches, loss, accuracy }) => {
              if (bar == null) return;
              if (batchesPerEpoch === 0) {
                batchesPerEpoch = batches;
                bar.start(batches * epochs, 0, { epoch, loss: '-', acc: '-', val: lastVal });
              }
              bar.update((epoch - 1) * batches + batch, { epoch, loss: loss.toFixed(4), acc: accuracy.toFixed(3), val: lastVal });
            },
            onEpoch: (e) => {
              lastVal = e.valAccuracy.toFixed(4);
              if (bar == null) {
                console.log(
                  `${network} ${data} ${protocol} epoch ${e.epoch}/${epochs}: train loss ${e.trainLoss.toFixed(4)} acc ${e.trainAccuracy.toFixed(4)}, ` +
                    `val loss ${e.valLoss.toFixed(4)} acc ${e.valAccuracy.toFixed(4)}` +
                    (e.deadFraction == null ? '' : `, dead units ${(100 * e.deadFraction).toFixed(1)}%`) +
                    `, ${e.secondsPer1000.toFixed(3)} s/epoch/1000 images`,
                );
              }
            },
          },
        );
        bar?.stop();
        console.log(
          `${network} on ${data} (${protocol}, ${o.recipe}): test accuracy ${(100 * log.test!.accuracy).toFixed(2)}%, loss ${log.test!.loss.toFixed(4)}` +
            (log.test!.localisation
              ? `, boxes with IoU >= 0.7: ${(100 * log.test!.localisation.iouAtLeast07).toFixed(2)}% of ${log.test!.localisation.detected} detected`
              : '') +
            ` -> ${dir}`,
        );
      }
    }
  }
});

program
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
  .action(async (checkpoint: string, o) => {
    // Loaded on demand: ONNX Runtime is heavy and only this command needs it.
    const { exportCheckpoint, publishModel } = await import('@blankspot/export');
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
        cacheDir: resolve('.cache/datasets'),
      },
    );
    console.log(
      `wrote ${result.path}: ${result.network}, ${result.bytes} bytes, sha256 ${result.sha256}; ` +
        `ONNX Runtime vs TensorFlow.js max |diff| ${result.maxAbsDiff.toExponential(2)} on ${result.probeCount} inputs`,
    );
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

function csvCell(v: unknown): string {
  const s = v == null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_HEADER =
  'path,flagged,score,threshold,model,version,width,height,box_x,box_y,box_width,box_height,error_code,error_message';

function csvRow(r: CheckedFile): string {
  return [
    r.path,
    r.flagged,
    r.score,
    r.threshold,
    r.model?.name,
    r.model?.version,
    r.image?.width,
    r.image?.height,
    r.box?.x,
    r.box?.y,
    r.box?.width,
    r.box?.height,
    r.error?.code,
    r.error?.message,
  ]
    .map(csvCell)
    .join(',');
}

program
  .command('check')
  .description(
    'check photos (files, folders recursively, or paths listed in files) for white rectangles; exit code 1 when any is flagged',
  )
  .argument('[paths...]', 'files or folders')
  .option('--list <file...>', 'files listing one path per line')
  .option('--model <name>', 'model name from the manifest (default: its default)')
  .addOption(
    new Option('--sensitivity <level>', "how readily to flag: the model's threshold for high, balanced or low").choices([
      'high',
      'balanced',
      'low',
    ]),
  )
  .option('--models <dir>', 'models folder with manifest.json (default: the shipped models)')
  .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).default('jsonl'))
  .option('--out <file>', 'write results here instead of standard output')
  .option('--html <file>', 'write a contact sheet of the flagged photos, highest score first')
  .option('--api <url>', 'send the photos to a deployed blankspot API instead of checking locally')
  .option('--api-key <key>', 'API key for --api (default: $BLANKSPOT_API_KEY)')
  .option('--concurrency <n>', 'requests at once with --api', positiveInt, 4)
  .option('--retries <n>', 'retries on 429/5xx with --api', (v) => Number(v), 5)
  .option('--threads <n>', 'worker threads when checking locally (default: all cores)', positiveInt)
  .option('--quiet', 'no progress bar')
  .action(async (paths: string[], o) => {
    const { checkLocally, checkViaApi, collectFiles } = await import('./catalogue.js');
    const files = await collectFiles(paths, o.list ?? []);
    if (files.length === 0) throw new BlankspotError('BAD_REQUEST', 'no photos to check: give files, folders or --list');
    const out = o.out ? createWriteStream(resolve(o.out)) : process.stdout;
    if (o.format === 'csv') out.write(CSV_HEADER + '\n');
    const results: CheckedFile[] = [];
    const bar =
      !o.quiet && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            {
              format: 'checking |{bar}| {value}/{total} {rate}/s, {flagged} flagged, {failed} unreadable, ETA {eta_formatted}',
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    const started = Date.now();
    let flagged = 0;
    let failed = 0;
    bar?.start(files.length, 0, { rate: '0.0', flagged: 0, failed: 0 });
    const onResult = (r: CheckedFile) => {
      results.push(r);
      if (r.flagged) flagged++;
      if (r.error) failed++;
      out.write(o.format === 'csv' ? csvRow(r) + '\n' : JSON.stringify(r) + '\n');
      const rate = results.length / Math.max(0.001, (Date.now() - started) / 1000);
      bar?.update(results.length, { rate: rate.toFixed(1), flagged, failed });
    };
    let retried = 0;
    if (o.api) {
      ({ retried } = await checkViaApi(files, {
        url: o.api,
        apiKey: o.apiKey ?? process.env.BLANKSPOT_API_KEY,
        model: o.model,
        sensitivity: o.sensitivity,
        concurrency: o.concurrency,
        retries: o.retries,
        onResult,
      }));
    } else {
      await checkLocally(files, {
        modelsDir: o.models ? resolve(o.models) : undefined,
        model: o.model,
        sensitivity: o.sensitivity,
        threads: o.threads,
        onResult,
      });
    }
    bar?.stop();
    if (out !== process.stdout) await new Promise((r) => (out as ReturnType<typeof createWriteStream>).end(r));
    if (o.html) {
      const { writeContactSheet } = await import('./contact-sheet.js');
      await writeContactSheet(resolve(o.html), results, files.length);
    }
    const seconds = (Date.now() - started) / 1000;
    console.error(
      `checked ${files.length} photos in ${seconds.toFixed(1)} s: ${flagged} flagged, ${failed} unreadable` +
        (o.api ? `; ${retried} busy or failed answers retried` : ''),
    );
    process.exitCode = flagged > 0 ? 1 : 0;
  });

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

program
  .command('report')
  .description('regenerate reports/ from run logs: Table 1 beside the paper, learning curves, dead units, Bayes ceilings')
  .option('--runs <dir>', 'folder of runs written by blankspot train', 'runs')
  .option('--out <dir>', 'report folder', 'reports')
  .action(async (o) => {
    const { writeReport } = await import('@blankspot/training');
    await useBackend('auto');
    const { runs, file } = await writeReport(resolve(o.runs), resolve(o.out));
    console.log(`wrote ${file} from ${runs} runs`);
  });

dataOptions(
  program
    .command('dataset')
    .description('preview a data set as an image grid (positives outlined in red)')
    .addOption(
      new Option('--data <set>', 'data set, or several joined with +')
        .default(['photos'], 'photos')
        .argParser((v) => dataList(v)[0]),
    )
    .addOption(new Option('--protocol <name>', 'protocol').choices([...PROTOCOLS]).default('paper'))
    .addOption(new Option('--split <name>', 'split').choices(['train', 'val', 'test']).default('train'))
    .option('-n, --count <n>', 'examples in the grid', positiveInt, 64)
    .option('--out <file>', 'PNG file to write', 'dataset.png'),
).action(async (o) => {
  const counts = { train: 0, val: 0, test: 0 };
  counts[o.split as keyof typeof counts] = o.count as number;
  const splits = await buildSplits({
    sets: o.data,
    protocol: o.protocol,
    seed: o.seed,
    counts,
    photosDir: o.photos,
    cutoutsDir: o.cutouts,
    catalogueDir: o.catalogue,
  });
  const ex = splits[o.split as 'train'];
  await writePreviewGrid(ex, resolve(o.out), ex.count);
  const positives = ex.labels.reduce((a, b) => a + b, 0);
  console.log(
    `wrote ${o.out}: ${ex.count} examples of ${o.data.join('+')} (${o.protocol}, ${o.split}), ${positives} with a rectangle`,
  );
});

program.parseAsync().catch((e: unknown) => {
  if (isBlankspotError(e)) {
    console.error(`blankspot: ${e.message}`);
    process.exit(2);
  }
  throw e;
});
