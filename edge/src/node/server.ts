/** Serving the app on Node's HTTP server. */
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../app.js';
import type { EdgeConfig } from '../config.js';
import { createNodeRuntime } from './runtime.js';

export interface NodeServer {
  url: string;
  close(): Promise<void>;
}

export async function startNodeServer(
  options: { port?: number; hostname?: string; modelsDir?: string; config?: Partial<EdgeConfig>; requireModels?: boolean } = {},
): Promise<NodeServer> {
  const runtime = createNodeRuntime({ modelsDir: options.modelsDir, maxPixels: options.config?.maxPixels });
  const { app, ready } = createApp(runtime, options.config);
  const registry = await ready;
  if (options.requireModels) {
    // Configured to refuse to start rather than serve 503s: say exactly what is wrong.
    const broken = registry.manifestError ?? registry.list().find((s) => s.error)?.error;
    if (broken) {
      await registry.release();
      throw new Error(`blankspot: models did not load: ${broken}`);
    }
  }
  const hostname = options.hostname ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8787, hostname }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${hostname}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }).then(() => registry.release()),
  };
}
