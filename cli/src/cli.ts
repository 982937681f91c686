#!/usr/bin/env node
/** The `blankspot` command: one file per command in commands/. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isBlankspotError } from '@blankspot/core';
import { registerCheck } from './commands/check.js';
import { registerDataset } from './commands/dataset.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerExport } from './commands/export.js';
import { registerReport } from './commands/report.js';
import { registerTrain } from './commands/train.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('blankspot')
  .description('blankspot: find white rectangles left in photos by bad retouching')
  .version(version, '-V, --version', 'print the version of blankspot');
for (const register of [registerTrain, registerExport, registerCheck, registerEvaluate, registerReport, registerDataset]) {
  register(program);
}

// Usage errors exit 2, as blankspot's own errors do: `check` keeps 1 for "something was flagged".
program.exitOverride();
for (const command of program.commands) command.exitOverride();

program.parseAsync().catch((e: unknown) => {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2); // commander has printed why
  if (isBlankspotError(e)) {
    console.error(`blankspot: ${e.message}`);
    process.exit(2);
  }
  throw e;
});
