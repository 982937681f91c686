/**
 * The blankspot API as one Hono app. It knows nothing of Node or Workers: decoding and ONNX
 * sessions come from the runtime adapter (the core's ports, `core/src/pipeline/ports.ts`).
 */
import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  BlankspotError,
  ModelRegistry,
  checkImage,
  thresholdFor,
  toErrorBody,
  type ErrorCode,
  type ModelRuntime,
} from '@blankspot/core';
import { apiKeyAuth } from './auth.js';
import { DEFAULT_CONFIG, type EdgeConfig } from './config.js';
import { DEMO_PAGE } from './demo-page.js';
import { ConcurrencyLimiter } from './limiter.js';
import { CheckQuery, CheckResult, ErrorBody, Health, ModelList } from './schemas.js';
import { observeRequests, type RecordFields, type RequestObserver } from './request-log.js';

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'MODEL_UNAVAILABLE',
};

/** Hono's own HTTP errors (body limit, malformed input) become blankspot errors with the same status. */
function asBlankspotError(err: unknown): unknown {
  if (err instanceof HTTPException) {
    const code = STATUS_CODES[err.status];
    if (code) return new BlankspotError(code, err.message || code.toLowerCase().replace(/_/g, ' '));
  }
  return err;
}

const errorResponses = Object.fromEntries(
  [400, 401, 413, 415, 422, 429, 500, 503].map((s) => [
    s,
    { description: 'error', content: { 'application/json': { schema: ErrorBody } } },
  ]),
);

const BINARY = { type: 'string' as const, format: 'binary' };

const checkRoute = createRoute({
  method: 'post',
  path: '/v1/check',
  summary: 'Check one photo for a white rectangle',
  description:
    'Send the photo as the raw request body (its type is read from its bytes, not the Content-Type header) or as the ' +
    'multipart/form-data field `image`. JPEG, PNG and WebP are accepted.',
  request: {
    query: CheckQuery,
    // Plain OpenAPI schemas, not zod: the body is binary and read by the handler, which sniffs its bytes.
    body: {
      required: true,
      content: {
        'application/octet-stream': { schema: BINARY },
        'image/jpeg': { schema: BINARY },
        'image/png': { schema: BINARY },
        'image/webp': { schema: BINARY },
        'multipart/form-data': { schema: { type: 'object', properties: { image: BINARY }, required: ['image'] } },
      },
    },
  },
  responses: { 200: { description: 'the verdict', content: { 'application/json': { schema: CheckResult } } }, ...errorResponses },
});

const modelsRoute = createRoute({
  method: 'get',
  path: '/v1/models',
  summary: 'The models this API serves, from models/manifest.json',
  responses: { 200: { description: 'models', content: { 'application/json': { schema: ModelList } } }, ...errorResponses },
});

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Whether the models loaded, and why not if one did not',
  responses: {
    200: { description: 'the default model is ready', content: { 'application/json': { schema: Health } } },
    503: { description: 'the default model is not ready', content: { 'application/json': { schema: Health } } },
  },
});

/**
 * The request body, at most `limit` bytes. Written by hand rather than with hono/body-limit: that
 * middleware stops reading at the limit, and workerd's local proxy then resets the connection while
 * the client is still sending, so the client never sees the 413. Here an oversized body is read on
 * (and dropped) up to a bounded amount, so the client gets its answer; beyond that it is cut off.
 */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new BlankspotError('PAYLOAD_TOO_LARGE', `the upload is larger than ${limit} bytes`);
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit) throw tooLarge();
  if (req.body == null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // A client that goes away mid-upload is not a server error: answer (to nobody) with a 400.
  const read = () =>
    reader.read().catch(() => {
      throw new BlankspotError('BAD_REQUEST', 'the upload was interrupted');
    });
  for (;;) {
    const { done, value } = await read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      const drainCap = 4 * limit;
      while (total <= drainCap) {
        const next = await read();
        if (next.done) break;
        total += next.value.length;
      }
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function readImageBytes(req: Request, limit: number): Promise<Uint8Array> {
  const type = req.headers.get('content-type') ?? '';
  const body = await readBody(req, limit);
  if (!type.toLowerCase().startsWith('multipart/form-data')) return body;
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new BlankspotError('BAD_REQUEST', 'the multipart body is malformed');
  }
  const file = form.get('image');
  if (file == null || typeof file === 'string')
    throw new BlankspotError('BAD_REQUEST', "multipart field 'image' is missing or not a file");
  return new Uint8Array(await file.arrayBuffer());
}

type AppEnv = { Variables: { requestId: string; record: RecordFields } };

export interface App {
  app: OpenAPIHono<AppEnv>;
  /** Resolves once every model has loaded or failed. */
  ready: Promise<ModelRegistry>;
  /** The check queue, for metrics. */
  limiter: ConcurrencyLimiter;
}

export function createApp(
  runtime: ModelRuntime,
  options: Partial<EdgeConfig> = {},
  /** Told of every answered request: the JSON log line, the Node server's metrics. */
  observers: RequestObserver[] = [],
): App {
  const config: EdgeConfig = { ...DEFAULT_CONFIG, ...options };
  const ready = ModelRegistry.load(runtime);
  const limiter = new ConcurrencyLimiter(config.maxConcurrent, config.maxQueue);
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        throw new BlankspotError(
          'BAD_REQUEST',
          `invalid ${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'bad value'}`,
        );
      }
    },
  });

  useMiddleware(app, config, observers);
  addCheckRoute(app, runtime, ready, limiter, config);
  addModelRoutes(app, runtime, ready);
  addDocsAndErrors(app);
  return { app, ready, limiter };
}

type AppInstance = OpenAPIHono<AppEnv>;

/** Request id, the request log and metrics, CORS and API keys, in that order. */
function useMiddleware(app: AppInstance, config: EdgeConfig, observers: RequestObserver[]): void {
  app.use('*', requestId());
  app.use('*', observeRequests(observers));
  app.use(
    '/v1/*',
    cors({
      origin: (origin) => (config.corsOrigins.includes('*') || config.corsOrigins.includes(origin) ? origin : null),
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'X-API-Key'],
      exposeHeaders: ['Retry-After', 'X-Request-Id'],
      maxAge: 600,
    }),
  );
  app.use('/v1/*', apiKeyAuth(config.apiKeys));
}

/** POST /v1/check: the photo through the core's pipeline, queued by the limiter. */
function addCheckRoute(
  app: AppInstance,
  runtime: ModelRuntime,
  ready: Promise<ModelRegistry>,
  limiter: ConcurrencyLimiter,
  config: EdgeConfig,
): void {
  app.openapi(checkRoute, async (c) => {
    const { model, sensitivity } = c.req.valid('query');
    const registry = await ready;
    const chosen = await registry.get(model);
    const record = c.get('record');
    if (sensitivity) record.sensitivity = sensitivity;
    record.model = chosen.entry.name;
    const bytes = await readImageBytes(c.req.raw, config.maxBodyBytes);
    record.bytes = bytes.length;
    let result;
    try {
      result = await limiter.run(() => checkImage(bytes, chosen, runtime.decoder, config, { sensitivity }));
    } catch (e) {
      if (e instanceof BlankspotError) throw e;
      // Not the photo's fault: the model's session broke. Answer 503 and reload it.
      registry.recover(chosen.entry.name, e instanceof Error ? e.message : String(e), runtime);
      throw new BlankspotError('MODEL_UNAVAILABLE', `model ${chosen.entry.name} failed and is being reloaded; retry shortly`);
    }
    Object.assign(record, { flagged: result.flagged, score: result.score, timings: result.timings });
    return c.json({ ...result, sensitivity: sensitivity ?? 'balanced', requestId: c.get('requestId') }, 200);
  });
}

/** GET /v1/models and /healthz: what is loaded, and whether the default is ready. */
function addModelRoutes(app: AppInstance, runtime: ModelRuntime, ready: Promise<ModelRegistry>): void {
  app.openapi(modelsRoute, async (c) => {
    const registry = await ready;
    await registry.loaded();
    if (registry.manifest == null) throw new BlankspotError('MODEL_UNAVAILABLE', `no models: ${registry.manifestError}`);
    return c.json(
      {
        models: registry.list().map(({ entry, session }) => ({
          name: entry.name,
          version: entry.version,
          default: entry.name === registry.defaultName,
          ready: session != null,
          network: entry.network,
          protocol: entry.protocol,
          data: entry.data,
          threshold: entry.threshold,
          thresholds: { high: thresholdFor(entry, 'high'), balanced: entry.threshold, low: thresholdFor(entry, 'low') },
          localises: entry.localises,
          validationAccuracy: entry.metrics.validation.accuracy,
          sha256: entry.sha256,
        })),
      },
      200,
    );
  });

  app.openapi(healthRoute, async (c) => {
    const registry = await ready;
    await registry.loaded();
    const models = registry.list().map((s) => ({ name: s.entry.name, ready: s.session != null, error: s.error }));
    const defaultReady = models.some((m) => m.name === registry.defaultName && m.ready);
    const status = registry.manifest == null || !defaultReady ? 'unavailable' : models.every((m) => m.ready) ? 'ok' : 'degraded';
    const body = {
      status,
      runtime: runtime.name,
      models,
      ...(registry.manifestError ? { error: registry.manifestError } : {}),
    } as const;
    return status === 'unavailable' ? c.json(body, 503) : c.json(body, 200);
  });
}

/** The OpenAPI document, the demo page, 404 and 405, and the one place errors become responses. */
function addDocsAndErrors(app: AppInstance): void {
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'blankspot API',
      version: '1.0.0',
      description: 'Finds white rectangles left in product photos by bad retouching.',
    },
  });

  app.get('/', (c) => c.html(DEMO_PAGE));

  app.notFound((c) => {
    // A route that exists under other methods (GET /v1/check) is a 405 that says which ones it takes.
    const allowed = [
      ...new Set(app.routes.filter((r) => r.path === c.req.path && r.method !== 'ALL').map((r) => r.method.toUpperCase())),
    ];
    const error =
      allowed.length > 0
        ? new BlankspotError('METHOD_NOT_ALLOWED', `${c.req.path} takes ${allowed.join(', ')}, not ${c.req.method}`)
        : new BlankspotError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`);
    const record = c.get('record') as RecordFields | undefined;
    if (record) record.error = error.code;
    if (allowed.length > 0) c.header('Allow', allowed.join(', '));
    return c.json(toErrorBody(error, c.get('requestId')).body, error.status as ContentfulStatusCode);
  });

  // The one place errors become responses: a code, a message, the request id; never a stack trace.
  app.onError((err, c) => {
    const e = asBlankspotError(err);
    if (!(e instanceof BlankspotError)) console.error(`[${c.get('requestId')}]`, err);
    const { status, body } = toErrorBody(e, c.get('requestId'));
    const record = c.get('record') as RecordFields | undefined;
    if (record) record.error = body.error.code;
    if (status === 429) c.header('Retry-After', '1');
    // The rest of an oversized upload is never read, so this connection cannot carry another request:
    // say so, or a keep-alive client would send its next request into a socket about to close.
    if (status === 413) c.header('Connection', 'close');
    return c.json(body, status as ContentfulStatusCode);
  });
}
