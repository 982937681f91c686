/** `blankspot train`: one run per network x data set x protocol, with progress and a log per epoch. */
import { relative, resolve } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import {
  DATASET_NAMES,
  NETWORK_NAMES,
  NETWORKS,
  PROTOCOLS,
  RECIPES,
  buildSplitsCached,
  defaultThreads,
  runTraining,
  stepCompiles,
  useBackend,
  type BackendName,
  type DataOptions,
  type DatasetName,
  type NetworkName,
  type Protocol,
  type RecipeName,
} from '@blankspot/training';
import { INPUT_SIZE, type Framing } from '@blankspot/core';
import { list, dataList, positiveInt, positiveNumber, dataOptions } from '../options.js';

/** The command's options (commander parses them; `dataOptions` adds the data sources'). */
type TrainOptions = Record<string, unknown> & {
  network: NetworkName[];
  data: DatasetName[][];
  protocol: Protocol[];
  recipe: RecipeName;
  framing: Framing;
  seed: string;
};

function defineTrain(program: Command): Command {
  return dataOptions(
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
      .option('--threads <n>', 'CPU threads to train on (default: every core)', positiveInt)
      .option('--init <checkpoint>', "start from this run's weights (fine-tuning) instead of fresh ones")
      .option(
        '--side <n>',
        "train localisers on inputs of this side rather than their own (localiser-128 at 256: its closer look's side)",
        positiveInt,
      )
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
  );
}

/** The splits for one data set, protocol and input side, built (or read from the cache) with a progress bar. */
async function splitsFor(o: TrainOptions, sets: DatasetName[], protocol: Protocol, side: number, showBar: boolean) {
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
    framing: o.framing,
    seed: o.seed,
    counts,
    photosDir: o.photos as string | undefined,
    cutoutsDir: o.cutouts as string | undefined,
    catalogueDir: o.catalogue as string | undefined,
    ...(side !== INPUT_SIZE ? { inputSize: side } : {}),
    onProgress: (done) => dataBar?.update(done),
  };
  const splits = await buildSplitsCached(options, o.cache === false ? undefined : resolve(o.cache as string));
  dataBar?.stop();
  return { splits, counts, data };
}

/** One network trained on the splits, with a progress bar (or a line per epoch) and its test scores at the end. */
async function trainOne(
  o: TrainOptions,
  network: NetworkName,
  { splits, counts, data }: Awaited<ReturnType<typeof splitsFor>>,
  protocol: Protocol,
  side: number,
  backend: BackendName,
  showBar: boolean,
): Promise<void> {
  const recipe = RECIPES[o.recipe];
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
      ...(o.framing !== 'full' ? { framing: o.framing } : {}),
      data,
      seed: o.seed,
      counts,
      backend,
      epochs: o.epochs as number | undefined,
      batchSize: o.batchSize as number | undefined,
      learningRate: o.lr as number | undefined,
      threads: o.threads as number | undefined,
      // Relative to where train runs, so logs, cards and exported files carry no machine's path.
      ...(o.init ? { initFrom: relative(process.cwd(), resolve(o.init as string)) || '.' } : {}),
      ...(side !== NETWORKS[network].inputSize ? { side } : {}),
    },
    resolve(o.out as string),
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
  const test = log.test!;
  console.log(
    `${network} on ${data} (${protocol}, ${o.recipe}): test accuracy ${(100 * test.accuracy).toFixed(2)}%, loss ${test.loss.toFixed(4)}` +
      (test.localisation
        ? `, boxes with IoU >= 0.7: ${(100 * test.localisation.iouAtLeast07).toFixed(2)}% of ${test.localisation.detected} detected`
        : '') +
      ` -> ${dir}`,
  );
}

export function registerTrain(program: Command): void {
  defineTrain(program).action(async (o: TrainOptions) => {
    // Worker threads share each batch only for networks blankspot's own step runs; the others (a
    // pretrained stream) run tfjs's tape on one thread, and TensorFlow's op pool takes the cores.
    const shared = (o.network as NetworkName[]).every((n) => stepCompiles(NETWORKS[n]));
    const backend = await useBackend(
      o.backend as BackendName | 'auto',
      shared ? { threads: (o.threads as number | undefined) ?? defaultThreads() } : {},
    );
    const showBar = !o.quiet && process.stderr.isTTY;
    // One data set per input side the networks take (a 128-input network needs its own).
    const sideOf = (n: NetworkName) => (o.side as number | undefined) ?? NETWORKS[n].inputSize;
    for (const protocol of o.protocol) {
      for (const sets of o.data) {
        for (const side of [...new Set(o.network.map(sideOf))]) {
          const made = await splitsFor(o, sets, protocol, side, showBar);
          for (const network of o.network.filter((n) => sideOf(n) === side))
            await trainOne(o, network, made, protocol, side, backend, showBar);
        }
      }
    }
  });
}
