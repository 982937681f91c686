/** `blankspot dataset`: a preview grid of any data set. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { PROTOCOLS, buildSplits, writePreviewGrid } from '@blankspot/training';
import { dataList, positiveInt, dataOptions } from '../options.js';

export function registerDataset(program: Command): void {
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
      framing: o.framing,
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
}
