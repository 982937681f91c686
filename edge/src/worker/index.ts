/** The Cloudflare Workers adapter: models from the ASSETS binding (wrangler's static assets), WASM codecs and ONNX Runtime Web. */
import { modelFolder, type ModelRuntime } from '@blankspot/core';
import { createApp, type App } from '../app.js';
import { configFromEnv } from '../config.js';
import { logJsonLine } from '../request-log.js';
import { wasmDecoder } from './decode.js';
import { createWorkerSession } from './onnx.js';

interface Env {
  ASSETS: { fetch(request: Request | string): Promise<Response> };
  [key: string]: unknown;
}

function workerRuntime(env: Env): ModelRuntime {
  return {
    name: 'workerd',
    decoder: wasmDecoder,
    ...modelFolder(async (file) => {
      const res = await env.ASSETS.fetch(new Request(`https://assets.internal/models/${file}`));
      return res.ok ? new Uint8Array(await res.arrayBuffer()) : null;
    }, "the Worker's models/"),
    createSession: createWorkerSession,
  };
}

// One app per isolate: models load once, on the first request, and stay for the isolate's life.
let instance: App | null = null;

interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    // The widget and the models it loads are static files, as the Node server serves them; the rest is the API.
    const { pathname } = new URL(request.url);
    if ((pathname.startsWith('/widget/') || pathname.startsWith('/models/')) && request.method === 'GET') {
      return env.ASSETS.fetch(request);
    }
    if (instance == null) {
      const vars = env as Record<string, string | undefined>;
      instance = createApp(workerRuntime(env), configFromEnv(vars), vars.BLANKSPOT_LOG_REQUESTS === 'false' ? [] : [logJsonLine]);
      // Workers tie I/O to the request that started it: keep the first request alive until the default
      // model has loaded, even when it is answered at once (a 401, a 413...).
      ctx.waitUntil(instance.ready.catch(() => undefined));
    }
    return instance.app.fetch(request, env, ctx as never);
  },
};
