/** Option parsers shared by the commands. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { FRAMINGS } from '@blankspot/core';
import { DATASET_NAMES, type DatasetName } from '@blankspot/training';

export function list<T extends string>(allowed: readonly T[], what: string) {
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
export function dataList(value: string): DatasetName[][] {
  if (value === 'all') return DATASET_NAMES.map((d) => [d]);
  if (value === 'mix') return [[...DATASET_NAMES]];
  return value.split(',').map((run) => list(DATASET_NAMES, 'data set')(run.replace(/\+/g, ',')));
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`'${value}' is not a whole number of 0 or more`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive whole number`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError(`'${value}' is not a positive number`);
  return n;
}

/** Where the photos and cut-outs come from, and the seed that splits them. */
export const dataOptions = (cmd: Command) =>
  cmd
    .option('--seed <seed>', 'seed for data, weights and shuffling', '1')
    .option('--photos <dir>', 'folder of natural photos for the photos set (default: the repo data)')
    .option('--cutouts <dir>', 'folder of RGBA cut-outs for the products set (default: the repo data)')
    .option('--catalogue <dir>', 'your own catalogue images, used as the products set')
    .addOption(
      new Option(
        '--framing <name>',
        'which part of each photo the inputs show: full, or content (the square around what stands on a plain light background)',
      )
        .choices([...FRAMINGS])
        .default('full'),
    );
