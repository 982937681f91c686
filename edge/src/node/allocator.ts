/**
 * The Node server runs on jemalloc where the system has it. glibc's malloc fragments under libvips'
 * many small allocations from several threads (sharp's own docs advise jemalloc on glibc Linux):
 * measured in-process on 10,000 fuzzed uploads, RSS grew ~7-10 MiB per 1,000 with glibc and stayed
 * flat after warm-up with jemalloc (docs/reliability.md). A library cannot switch allocators once
 * loaded, so the server starts itself again with jemalloc preloaded; BLANKSPOT_ALLOCATOR=system opts out.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const JEMALLOC = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
];

export function jemallocPath(): string | null {
  return JEMALLOC.find((p) => existsSync(p)) ?? null;
}

function usesGlibc(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return process.platform === 'linux' && header?.glibcVersionRuntime != null;
}

/** Which allocator this process runs on, as far as the server can tell. */
export function allocator(): 'jemalloc' | 'system' {
  return /libjemalloc/.test(process.env.LD_PRELOAD ?? '') ? 'jemalloc' : 'system';
}

/**
 * Starts this same program again with jemalloc preloaded and waits for it, passing signals on and
 * its exit code back. Returns false (nothing started) when already on jemalloc, opted out, not on
 * glibc, or jemalloc is not installed.
 */
export function relaunchOnJemalloc(): boolean {
  if (allocator() === 'jemalloc' || process.env.BLANKSPOT_ALLOCATOR === 'system' || !usesGlibc()) return false;
  const lib = jemallocPath();
  if (lib == null) return false;
  const preload = [lib, process.env.LD_PRELOAD].filter(Boolean).join(':');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, LD_PRELOAD: preload },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
  return true;
}
