/** `blankspot check`: photos, folders and lists checked locally (the API's pipeline) or through a deployed API. */
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { BlankspotError } from '@blankspot/core';
import type { CheckedFile } from '../catalogue.js';
import { nonNegativeInt, positiveInt } from '../options.js';

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

/** Where each result goes as it comes: the output (JSON lines or CSV), the progress bar and the tallies. */
function resultSink(out: NodeJS.WritableStream, format: 'jsonl' | 'csv', total: number, quiet: boolean) {
  const results: CheckedFile[] = [];
  const bar =
    !quiet && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            format: 'checking |{bar}| {value}/{total} {rate}/s, {flagged} flagged, {failed} unreadable, ETA {eta_formatted}',
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const started = Date.now();
  const tally = { flagged: 0, failed: 0 };
  if (format === 'csv') out.write(CSV_HEADER + '\n');
  bar?.start(total, 0, { rate: '0.0', flagged: 0, failed: 0 });
  return {
    results,
    tally,
    started,
    onResult(r: CheckedFile) {
      results.push(r);
      if (r.flagged) tally.flagged++;
      if (r.error) tally.failed++;
      out.write(format === 'csv' ? csvRow(r) + '\n' : JSON.stringify(r) + '\n');
      const rate = results.length / Math.max(0.001, (Date.now() - started) / 1000);
      bar?.update(results.length, { rate: rate.toFixed(1), ...tally });
    },
    stop: () => bar?.stop(),
  };
}

export function registerCheck(program: Command): void {
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
    .option('--retries <n>', 'retries on 429/5xx with --api', nonNegativeInt, 5)
    .option('--threads <n>', 'worker threads when checking locally (default: all cores)', positiveInt)
    .option('--quiet', 'no progress bar')
    .action(async (paths: string[], o) => {
      const { checkLocally, checkViaApi, collectFiles } = await import('../catalogue.js');
      const { files, unreadable } = await collectFiles(paths, o.list ?? []);
      if (files.length === 0 && unreadable.length === 0)
        throw new BlankspotError('BAD_REQUEST', 'no photos to check: give files, folders or --list');
      const out = o.out ? createWriteStream(resolve(o.out)) : process.stdout;
      const sink = resultSink(out, o.format, files.length + unreadable.length, Boolean(o.quiet));
      const { onResult, tally, started } = sink;
      for (const r of unreadable) onResult(r);
      let retried = 0;
      if (files.length === 0) {
        // Only unreadable folders: reported above, nothing to check.
      } else if (o.api) {
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
      sink.stop();
      if (out !== process.stdout) await new Promise((r) => (out as ReturnType<typeof createWriteStream>).end(r));
      if (o.html) {
        const { writeContactSheet } = await import('../contact-sheet.js');
        await writeContactSheet(resolve(o.html), sink.results, files.length);
      }
      const seconds = (Date.now() - started) / 1000;
      const folders = unreadable.filter((r) => r.error?.code === 'UNREADABLE_FOLDER').length;
      const notPhotos = unreadable.length - folders;
      console.error(
        `checked ${files.length} photos in ${seconds.toFixed(1)} s: ${tally.flagged} flagged, ${tally.failed - notPhotos} unreadable` +
          (folders ? ` (${folders} of them folders)` : '') +
          (notPhotos ? `; ${notPhotos} other files not checked (not named as a photo; each has a line)` : '') +
          (o.api ? `; ${retried} busy or failed answers retried` : ''),
      );
      process.exitCode = tally.flagged > 0 ? 1 : 0;
    });
}
