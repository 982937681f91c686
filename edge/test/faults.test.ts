/** Faults: a model missing at start, a session breaking mid-run, clients vanishing mid-upload. */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelRuntime } from '@blankspot/core';
import { createApp } from '../src/app.js';
import { REPO_MODELS_DIR, createNodeRuntime, startNodeServer } from '../src/node/index.js';
import { jemallocPath } from '../src/node/allocator.js';
import { photoFiles, photoJpeg } from './fixtures.js';

let jpeg: Buffer;
let dir: string;
beforeAll(async () => {
  jpeg = await photoJpeg((await photoFiles('natural', 1))[0]);
  dir = await mkdtemp(join(tmpdir(), 'blankspot-faults-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const post = (url: string) => fetch(`${url}/v1/check`, { method: 'POST', body: new Uint8Array(jpeg) });

describe('faults', () => {
  it('reports a model file missing at start: 503 with the reason, or a clear refusal to start', async () => {
    const models = join(dir, 'missing');
    await cp(REPO_MODELS_DIR, models, { recursive: true });
    const manifest = JSON.parse(await readFile(join(models, 'manifest.json'), 'utf8')) as {
      default: string;
      models: Array<{ name: string; file: string }>;
    };
    await rm(join(models, manifest.models.find((m) => m.name === manifest.default)!.file));
    const s = await startNodeServer({ port: 0, modelsDir: models });
    try {
      const health = await fetch(`${s.url}/healthz`);
      expect(health.status).toBe(503);
      expect(JSON.stringify(await health.json())).toMatch(/missing/);
      expect((await post(s.url)).status).toBe(503);
    } finally {
      await s.close();
    }
    await expect(startNodeServer({ port: 0, modelsDir: models, requireModels: true })).rejects.toThrow(
      /models did not load: .*missing/,
    );
    await writeFile(join(models, 'manifest.json'), '{ not json');
    await expect(startNodeServer({ port: 0, modelsDir: models, requireModels: true })).rejects.toThrow(/not valid JSON/);
  });

  it('answers 503 when the ONNX session fails mid-run, reloads it, and recovers', async () => {
    // The real Node runtime, with one injected failure: every session made at start-up breaks on its
    // second run (sessions load concurrently, so "the first" is not the default model's); sessions
    // made later, by the reload, are healthy.
    const real = createNodeRuntime();
    let started = false;
    const runtime: ModelRuntime = {
      ...real,
      async createSession(bytes, entry) {
        const session = await real.createSession(bytes, entry);
        const sabotaged = !started;
        let runs = 0;
        return {
          ...session,
          run: (input, n) =>
            sabotaged && ++runs === 2 ? Promise.reject(new Error('injected: session crashed')) : session.run(input, n),
        };
      },
    };
    const { app, ready } = createApp(runtime);
    const registry = await ready;
    started = true;
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const first = await post(url);
      const broke = await Promise.all([post(url), post(url), post(url)]);
      const statuses = [first.status, ...broke.map((r) => r.status)];
      expect(statuses).toContain(503);
      const failed = broke.find((r) => r.status === 503)!;
      expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('MODEL_UNAVAILABLE');
      await registry.settled();
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      expect((await post(url)).status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
      await registry.release();
    }
  });

  it('survives 200 clients that vanish mid-upload, without keeping what they sent', async () => {
    const s = await startNodeServer({ port: 0 });
    try {
      const { port } = new URL(s.url);
      // Noise compresses badly: a photo of several MB, so what the clients abandon adds up to hundreds of
      // MB, and a server that kept each half-upload would grow by about that much.
      const big = await sharp({
        create: {
          width: 2400,
          height: 2400,
          channels: 3,
          background: '#808080',
          noise: { type: 'gaussian', mean: 128, sigma: 60 },
        },
      })
        .jpeg({ quality: 95 })
        .toBuffer();
      const abandon = async (clients: number) => {
        for (let i = 0; i < clients; i++) {
          await new Promise<void>((resolve) => {
            const socket = connect(Number(port), '127.0.0.1', () => {
              socket.write(
                `POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${big.length}\r\n\r\n`,
              );
              socket.write(big.subarray(0, big.length >> 1), () => {
                socket.destroy();
                resolve();
              });
            });
            socket.on('error', () => resolve());
          });
        }
        return clients * (big.length >> 1);
      };
      // A first round grows the heap and the allocator's pools to their working size; the second is measured.
      await abandon(40);
      const rssBefore = process.memoryUsage().rss;
      const abandoned = await abandon(160);
      // The server still answers, and memory grew by far less than what the clients left behind.
      expect((await post(s.url)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect(abandoned).toBeGreaterThan(400 * 1024 * 1024);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(abandoned / 3);
    } finally {
      await s.close();
    }
  });
});

describe('the server process', () => {
  it('runs on jemalloc where it is installed, and passes its exit code and signals through', async () => {
    const main = fileURLToPath(new URL('../dist/node/main.js', import.meta.url));
    const proc = spawn(process.execPath, [main, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (c: Buffer) => {
        out += String(c);
        if (out.includes('\n')) resolve(out);
      });
      proc.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    });
    // CI installs libjemalloc2 (.ci/run): there the server must find it, not quietly fall back.
    if (process.env.CI) expect(jemallocPath(), 'libjemalloc2 is installed in CI').toBeTruthy();
    const expected = jemallocPath() && process.env.BLANKSPOT_ALLOCATOR !== 'system' ? 'jemalloc' : 'system';
    expect(line).toMatch(new RegExp(`on http://127\\.0\\.0\\.1:\\d+ \\(memory allocator: ${expected}\\)`));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Stopped the way a shell stops a job: the signal reaches the whole process group (launcher and
    // server), so the server hears it twice, with its models loaded and photos read. It still stops cleanly.
    const group = spawn(process.execPath, [main, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let groupErr = '';
    group.stderr.on('data', (c: Buffer) => (groupErr += String(c)));
    const url = await new Promise<string>((resolve) => {
      let out = '';
      group.stdout.on('data', (c: Buffer) => {
        out += String(c);
        const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
    });
    const photo = await sharp({ create: { width: 600, height: 600, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    expect((await fetch(`${url}/v1/check`, { method: 'POST', body: new Uint8Array(photo) })).status).toBe(200);
    const groupExited = new Promise<number | null>((resolve) => group.once('exit', (code) => resolve(code)));
    process.kill(-group.pid!, 'SIGTERM');
    expect(await groupExited).toBe(0);
    expect(groupErr).not.toMatch(/disposed|Error/);
    // A server that cannot start says why and exits non-zero, through the relaunch too.
    const refused = spawn(process.execPath, [main, '--port', '0', '--models', join(dir, 'nowhere'), '--require-models'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    refused.stderr.on('data', (c: Buffer) => (err += String(c)));
    expect(await new Promise((resolve) => refused.once('exit', resolve))).toBe(1);
    expect(err).toMatch(/manifest/);
  });
});
