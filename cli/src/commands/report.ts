/** `blankspot report`: reports/ regenerated from run logs. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { useBackend } from '@blankspot/training';

export function registerReport(program: Command): void {
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
}
