/** The API under test, on each runtime: the real Node server, and the Worker in real workerd (wrangler dev). */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { EdgeConfig } from '../src/config.js';
import { startNodeServer } from '../src/node/index.js';
import { freePort } from '../src/bench/ports.js';

export interface Target {
  name: 'node' | 'workerd';
  url: string;
  close(): Promise<void>;
}

const EDGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Environment variables, as both runtimes read their configuration (see configFromEnv). */
function vars(config: Partial<EdgeConfig>): Record<string, string> {
  const out: Record<string, string> = {};
  if (config.apiKeys) out.BLANKSPOT_API_KEYS = config.apiKeys.join(',');
  if (config.corsOrigins) out.BLANKSPOT_CORS_ORIGINS = config.corsOrigins.join(',');
  if (config.maxBodyBytes) out.BLANKSPOT_MAX_BODY_BYTES = String(config.maxBodyBytes);
  if (config.maxConcurrent) out.BLANKSPOT_MAX_CONCURRENT = String(config.maxConcurrent);
  if (config.maxQueue) out.BLANKSPOT_MAX_QUEUE = String(config.maxQueue);
  return out;
}

export async function startNode(config: Partial<EdgeConfig> = {}, modelsDir?: string): Promise<Target> {
  const s = await startNodeServer({ port: 0, modelsDir, config });
  return { name: 'node', url: s.url, close: s.close };
}

export async function startWorkerd(config: Partial<EdgeConfig> = {}): Promise<Target> {
  const wrangler = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js');
  const port = await freePort();
  const inspector = await freePort();
  const args = [
    'dev',
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    '--inspector-port',
    String(inspector),
    '--show-interactive-dev-session=false',
  ];
  for (const [k, v] of Object.entries(vars(config))) args.push('--var', `${k}:${v}`);
  const proc = spawn(process.execPath, [wrangler, ...args], {
    cwd: EDGE_DIR,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start in 90 s:\n${log}`)), 90_000);
    const onData = (chunk: Buffer) => {
      log += String(chunk);
      if (/Ready on http/.test(log)) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`wrangler dev exited with ${code}:\n${log}`)));
  });
  return {
    name: 'workerd',
    url,
    close: async () => {
      if (proc.exitCode != null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      process.kill(-proc.pid!, 'SIGTERM');
      await exited;
    },
  };
}
