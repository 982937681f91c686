/**
 * Mutated uploads for fuzzing the API: bit flips, truncations, header edits and huge declared sizes
 * applied to real JPEG/PNG/WebP seeds. Deterministic from a seed.
 */
export type Mutation = 'bitflips' | 'truncate' | 'header' | 'huge-size' | 'splice' | 'garbage-tail' | 'none';

function rng(seed: number) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** Writes a big-endian or little-endian dimension where each format keeps it. */
function hugeSize(b: Uint8Array, r: () => number): void {
  const big = 20_000 + Math.floor(r() * 45_000);
  if (b[0] === 0x89 && b.length > 24) {
    new DataView(b.buffer, b.byteOffset).setUint32(16, big);
    new DataView(b.buffer, b.byteOffset).setUint32(20, big);
  } else if (b[0] === 0xff) {
    for (let i = 2; i + 9 < b.length;) {
      const m = b[i + 1];
      const len = (b[i + 2] << 8) | b[i + 3];
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        b[i + 5] = big >> 8;
        b[i + 6] = big & 0xff;
        b[i + 7] = big >> 8;
        b[i + 8] = big & 0xff;
        return;
      }
      i += 2 + len;
    }
  } else if (b.length > 30) {
    // WebP: VP8X canvas or VP8L/VP8 sizes, whichever the bytes hold.
    b[24] = b[25] = b[26] = 0xff;
    b[27] = b[28] = b[29] = 0x3f;
  }
}

export function mutate(seeds: Uint8Array[], index: number): { body: Uint8Array; mutation: Mutation } {
  const r = rng(index * 2654435761 + 17);
  const seed = seeds[Math.floor(r() * seeds.length)];
  const body = Uint8Array.from(seed);
  const kinds: Mutation[] = ['bitflips', 'truncate', 'header', 'huge-size', 'splice', 'garbage-tail', 'none'];
  const mutation = kinds[Math.floor(r() * kinds.length)];
  switch (mutation) {
    case 'bitflips': {
      const flips = 1 + Math.floor(r() * 32);
      for (let k = 0; k < flips; k++) body[Math.floor(r() * body.length)] ^= 1 << Math.floor(r() * 8);
      return { body, mutation };
    }
    case 'truncate':
      return { body: body.subarray(0, Math.floor(r() * body.length)), mutation };
    case 'header': {
      const n = Math.min(body.length, 64);
      for (let k = 0; k < 6; k++) body[Math.floor(r() * n)] = Math.floor(r() * 256);
      return { body, mutation };
    }
    case 'huge-size':
      hugeSize(body, r);
      return { body, mutation };
    case 'splice': {
      const other = seeds[Math.floor(r() * seeds.length)];
      const cut = Math.floor(r() * body.length);
      const from = Math.floor(r() * other.length);
      const out = new Uint8Array(cut + other.length - from);
      out.set(body.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return { body: out, mutation };
    }
    case 'garbage-tail': {
      const tail = new Uint8Array(1 + Math.floor(r() * 4096)).map(() => Math.floor(r() * 256));
      const out = new Uint8Array(body.length + tail.length);
      out.set(body);
      out.set(tail, body.length);
      return { body: out, mutation };
    }
    default:
      return { body, mutation };
  }
}

export interface FuzzReport {
  sent: number;
  byStatus: Record<number, number>;
  /** Responses that were not well-formed JSON errors or results. */
  malformed: number;
  /** Requests that got no response at all. */
  dropped: number;
  seconds: number;
}

/** Sends `count` mutated bodies to `${url}/v1/check` with `concurrency` in flight. */
export async function fuzz(url: string, seeds: Uint8Array[], count: number, concurrency = 8, offset = 0): Promise<FuzzReport> {
  const report: FuzzReport = { sent: 0, byStatus: {}, malformed: 0, dropped: 0, seconds: 0 };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const { body } = mutate(seeds, offset + i);
        report.sent++;
        try {
          const res = await fetch(`${url}/v1/check`, { method: 'POST', body: body as Uint8Array<ArrayBuffer> });
          report.byStatus[res.status] = (report.byStatus[res.status] ?? 0) + 1;
          const json = (await res.json().catch(() => null)) as { error?: { code?: string }; score?: number } | null;
          const wellFormed = res.ok ? typeof json?.score === 'number' : typeof json?.error?.code === 'string';
          if (!wellFormed) report.malformed++;
        } catch {
          report.dropped++;
        }
      }
    }),
  );
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
