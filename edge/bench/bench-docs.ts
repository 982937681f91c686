/**
 * The benches write their current figures into docs/benchmarks.md, each into its own section between
 * markers, with the machine and the date: the page always holds the last full run of each bench.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export const BENCHMARKS_MD = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

/** What the figures were measured on: CPU, cores, memory, Node, the date. */
export function machineLine(): string {
  const cpu = cpus();
  const gib = Math.round(totalmem() / 2 ** 30);
  return `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${gib} GiB, Node ${process.versions.node}.`;
}

/** Replaces the section `name` of docs/benchmarks.md (added at the end the first time) with `lines`. */
export async function writeBenchSection(name: string, title: string, lines: string[], file = BENCHMARKS_MD): Promise<void> {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = [start, `## ${title}`, '', machineLine(), ...lines, end].join('\n');
  const page = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const at = page.indexOf(start);
  const next =
    at >= 0 ? page.slice(0, at) + section + page.slice(page.indexOf(end, at) + end.length) : `${page.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}
