/** API keys, compared in constant time so response timing reveals nothing about a key. */
import { createMiddleware } from 'hono/factory';
import { BlankspotError, sha256Hex } from '@blankspot/core';

function presented(header: (name: string) => string | undefined): string | null {
  const auth = header('authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return header('x-api-key') ?? null;
}

/** Equal-length hex digests compared without an early exit. */
function sameDigest(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export function apiKeyAuth(keys: string[]) {
  const digests = Promise.all(keys.map((k) => sha256Hex(new TextEncoder().encode(k))));
  return createMiddleware(async (c, next) => {
    if (keys.length === 0) return next();
    const key = presented((n) => c.req.header(n));
    if (!key) throw new BlankspotError('UNAUTHORIZED', 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    const digest = await sha256Hex(new TextEncoder().encode(key));
    let ok = false;
    for (const d of await digests) ok = sameDigest(digest, d) || ok; // every key is compared, always
    if (!ok) throw new BlankspotError('UNAUTHORIZED', 'the API key is not valid');
    return next();
  });
}
