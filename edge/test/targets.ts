/** The API under test, on each runtime: the real Node server, and the Worker in real workerd (wrangler dev). */
import { configFromEnv, type EdgeConfig } from '../src/config.js';
import { startNodeServer } from '../src/node/index.js';
import { startWranglerDev } from '../bench/servers.js';

export interface Target {
  name: 'node' | 'workerd';
  url: string;
  close(): Promise<void>;
  /** What the server wrote on its standard output and error, where the test can read it. */
  output?(): string;
}

/** Environment variables, as both runtimes read their configuration (see configFromEnv). */
function vars(config: Partial<EdgeConfig>): Record<string, string> {
  const out: Record<string, string> = {};
  if (config.apiKeys) out.BLANKSPOT_API_KEYS = config.apiKeys.join(',');
  if (config.corsOrigins) out.BLANKSPOT_CORS_ORIGINS = config.corsOrigins.join(',');
  if (config.maxBodyBytes) out.BLANKSPOT_MAX_BODY_BYTES = String(config.maxBodyBytes);
  if (config.maxConcurrent) out.BLANKSPOT_MAX_CONCURRENT = String(config.maxConcurrent);
  if (config.maxQueue) out.BLANKSPOT_MAX_QUEUE = String(config.maxQueue);
  if (config.maxPixels) out.BLANKSPOT_MAX_PIXELS = String(config.maxPixels);
  if (config.maxSide) out.BLANKSPOT_MAX_SIDE = String(config.maxSide);
  return out;
}

export async function startNode(config: Partial<EdgeConfig> = {}, modelsDir?: string): Promise<Target> {
  // Through the same environment variables the Worker gets, read as `npm start` reads them.
  const s = await startNodeServer({ port: 0, modelsDir, config: configFromEnv(vars(config)) });
  return { name: 'node', url: s.url, close: s.close };
}

export async function startWorkerd(config: Partial<EdgeConfig> = {}, extraVars: Record<string, string> = {}): Promise<Target> {
  const dev = await startWranglerDev({ ...vars(config), ...extraVars });
  return { name: 'workerd', url: dev.url, close: dev.close, output: dev.output };
}
