/** Serving the app on Node's HTTP server. */
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { compress } from 'hono/compress';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { createApp } from '../app.js';
import type { EdgeConfig } from '../config.js';
import { REPO_MODELS_DIR, closeJpegThreads, createNodeRuntime } from '@blankspot/runtime-node';
import { NodeMetrics } from './metrics.js';
import { logJsonLine } from '../request-log.js';

/** The built widget (web/dist): served at /widget/ for the demo page and for shops that embed it. */
const WIDGET_DIR = dirname(createRequire(import.meta.url).resolve('@blankspot/web/dist/blankspot.js'));

export interface NodeServer {
  url: string;
  close(): Promise<void>;
}

export async function startNodeServer(
  options: {
    port?: number;
    hostname?: string;
    modelsDir?: string;
    config?: Partial<EdgeConfig>;
    requireModels?: boolean;
    /** One JSON line per request on standard output (`npm start` turns it on). */
    logRequests?: boolean;
  } = {},
): Promise<NodeServer> {
  const runtime = createNodeRuntime({ modelsDir: options.modelsDir, maxPixels: options.config?.maxPixels });
  const metrics = new NodeMetrics();
  const observers = [metrics.observe, ...(options.logRequests ? [logJsonLine] : [])];
  const { app, ready, limiter } = createApp(runtime, options.config, observers);
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this Node server (requests, verdicts, latency, queue, models)',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  app.get('/metrics', async (c) => {
    const registry = await ready;
    return c.text(await metrics.render(limiter.load, registry), 200, { 'content-type': metrics.contentType });
  });
  // Static files the widget needs: itself, ONNX Runtime's WASM, and the models through their manifest.
  const root = (dir: string) => relative(process.cwd(), dir) || '.';
  // The widget's build keeps a brotli and a gzip copy of each script and WASM file: sent as they are to a
  // browser that accepts them (ONNX Runtime's WASM is 14 MB as it is, 2.3 MB as brotli, 3.6 MB as gzip).
  app.use(
    '/widget/*',
    serveStatic({ root: root(WIDGET_DIR), precompressed: true, rewriteRequestPath: (p) => p.replace(/^\/widget/, '') }),
  );
  // The manifest (JSON) compressed as it is sent; ONNX files are weights, which hardly compress.
  app.use('/models/*', compress());
  app.use(
    '/models/*',
    serveStatic({ root: root(options.modelsDir ?? REPO_MODELS_DIR), rewriteRequestPath: (p) => p.replace(/^\/models/, '') }),
  );
  const registry = await ready;
  await registry.loaded();
  if (options.requireModels) {
    // Configured to refuse to start rather than serve 503s: say exactly what is wrong.
    const broken = registry.manifestError ?? registry.list().find((s) => s.error)?.error;
    if (broken) {
      await registry.release();
      throw new Error(`blankspot: models did not load: ${broken}`);
    }
  }
  const hostname = options.hostname ?? '127.0.0.1';
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: options.port ?? 8787, hostname }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (e) {
    await registry.release();
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE'
        ? `blankspot: port ${options.port} on ${hostname} is already in use`
        : `blankspot: cannot listen: ${(e as Error).message}`,
    );
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  // Once only: a stop signal can arrive twice (from the shell's process group and from the jemalloc
  // launcher passing it on), and ONNX Runtime refuses to release a session twice.
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostname}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      })
        .then(() => registry.release())
        .then(() => closeJpegThreads())),
  };
}
