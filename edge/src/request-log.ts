/**
 * One record per request, for operators: written as one JSON line (both runtimes) and fed to the
 * Node server's Prometheus metrics. Never the image, only its size.
 */
import type { MiddlewareHandler } from 'hono';

export interface RequestRecord {
  time: string;
  requestId: string;
  method: string;
  /** The matched route ('/v1/check'), or '*' for a path no route knows: a bounded set, fit for metric labels. */
  route: string;
  path: string;
  status: number;
  /** The error code of a refused request. */
  error?: string;
  model?: string;
  flagged?: boolean;
  score?: number;
  sensitivity?: string;
  /** Upload size of a check. */
  bytes?: number;
  timings?: { decodeMs: number; preprocessMs: number; inferenceMs: number; totalMs: number };
  durationMs: number;
}

/** What a handler or the error handler adds to the request's record. */
export type RecordFields = Partial<
  Omit<RequestRecord, 'time' | 'requestId' | 'method' | 'route' | 'path' | 'status' | 'durationMs'>
>;

export type RequestObserver = (record: RequestRecord) => void;

/** Writes each record as one JSON line on standard output. */
export const logJsonLine: RequestObserver = (record) => console.log(JSON.stringify(record));

type Env = { Variables: { requestId: string; record: RecordFields } };

/** Middleware: times the request and hands its record to every observer once it is answered. */
export function observeRequests(observers: RequestObserver[]): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    c.set('record', {});
    await next();
    if (observers.length === 0) return;
    const record: RequestRecord = {
      time: new Date().toISOString(),
      requestId: c.get('requestId'),
      method: c.req.method,
      route: c.req.routePath === '/*' ? '*' : c.req.routePath,
      path: c.req.path,
      status: c.res.status,
      ...c.get('record'),
      durationMs: Math.round((performance.now() - started) * 100) / 100,
    };
    for (const observe of observers) observe(record);
  };
}
