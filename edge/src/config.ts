import { LIMITS } from '@blankspot/core';

export interface EdgeConfig {
  /** When non-empty, requests to /v1/* need one of these keys (Authorization: Bearer or X-API-Key). */
  apiKeys: string[];
  /** Origins allowed to call the API from a browser (the widget on sellers' sites). */
  corsOrigins: string[];
  /** Checks running at once; more wait in a queue. */
  maxConcurrent: number;
  /** Checks allowed to wait; beyond that the API answers 429 with Retry-After. */
  maxQueue: number;
  maxBodyBytes: number;
  maxPixels: number;
  maxSide: number;
}

export const DEFAULT_CONFIG: EdgeConfig = {
  apiKeys: [],
  corsOrigins: [],
  maxConcurrent: 4,
  maxQueue: 64,
  maxBodyBytes: LIMITS.maxBodyBytes,
  maxPixels: LIMITS.maxPixels,
  maxSide: LIMITS.maxSide,
};

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return v != null && v !== '' && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Configuration from environment variables (BLANKSPOT_API_KEYS, BLANKSPOT_CORS_ORIGINS, ...), for every runtime. */
export function configFromEnv(env: Record<string, string | undefined>): EdgeConfig {
  return {
    apiKeys: list(env.BLANKSPOT_API_KEYS),
    corsOrigins: list(env.BLANKSPOT_CORS_ORIGINS),
    maxConcurrent: int(env.BLANKSPOT_MAX_CONCURRENT, DEFAULT_CONFIG.maxConcurrent),
    maxQueue: int(env.BLANKSPOT_MAX_QUEUE, DEFAULT_CONFIG.maxQueue),
    maxBodyBytes: int(env.BLANKSPOT_MAX_BODY_BYTES, DEFAULT_CONFIG.maxBodyBytes),
    maxPixels: int(env.BLANKSPOT_MAX_PIXELS, DEFAULT_CONFIG.maxPixels),
    maxSide: int(env.BLANKSPOT_MAX_SIDE, DEFAULT_CONFIG.maxSide),
  };
}
