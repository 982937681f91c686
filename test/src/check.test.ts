/** `blankspot check` on a small catalogue: locally and through the API, as a retailer would run it. */
import { execFile } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type NodeServer } from '@blankspot/edge/node';
import { freePort } from '@blankspot/edge/dev-servers';
import { checkLocally, checkWorker, type CheckedFile } from '@blankspot/cli/catalogue';
import { BLANKSPOT_CLI } from './index.js';

const PHOTOS = fileURLToPath(new URL('../../data/photos/', import.meta.url));
const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));
let dir: string;
let server: NodeServer;
const damaged: string[] = [];
const clean: string[] = [];

interface Line {
  path: string;
  flagged?: boolean;
  score?: number;
  error?: { code: string; message: string };
}

const blankspot = (...args: string[]) => blankspotVia([], ...args);

/** The CLI, started through `via` (a command that runs the rest of its arguments). */
async function blankspotVia(via: string[], ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = [...via, process.execPath, BLANKSPOT_CLI, ...args];
  try {
    const { stdout, stderr } = await promisify(execFile)(command, rest, {
      cwd: dir,
      maxBuffer: 32 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blankspot-check-'));
  await mkdir(join(dir, 'shop', 'nested'), { recursive: true });
  const names = ['colosseum', 'machuPicchu', 'greatWallofChina'].map((n) =>
    join(PHOTOS, 'natural', `gcompris__explore_monuments_resource_wonders_${n}.png`),
  );
  const white = await sharp({ create: { width: 140, height: 140, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  for (const [i, p] of names.entries()) {
    const base = await sharp(p).resize(512, 512).png().toBuffer();
    const d = join(dir, 'shop', 'nested', `damaged-${i}.jpg`);
    await sharp(base)
      .composite([{ input: white, left: 256, top: 154 }])
      .jpeg({ quality: 90 })
      .toFile(d);
    damaged.push(d);
    const c = join(dir, 'shop', `clean-${i}.jpg`);
    await sharp(base).jpeg({ quality: 90 }).toFile(c);
    clean.push(c);
  }
  await writeFile(join(dir, 'shop', 'notes.png'), 'not a png at all');
  // Files a folder holds that are not named as photos, and an empty one that is: each gets a line.
  await writeFile(join(dir, 'shop', 'nested', 'animation.gif'), 'GIF89a');
  await writeFile(join(dir, 'shop', 'readme.txt'), 'a catalogue');
  await writeFile(join(dir, 'shop', 'empty.jpg'), '');
  await copyFile(join(PHOTOS, 'natural', 'tuxpaint__templates_burnt_bark.png'), join(dir, 'listed.png'));
  // The list also names a photo the folder holds: it is checked once.
  await writeFile(
    join(dir, 'list.txt'),
    `# extra photos\n${join(dir, 'listed.png')}\n${join(dir, 'missing.jpg')}\n${clean[0]}\n`,
  );
  server = await startNodeServer({ port: 0, config: { maxConcurrent: 1, maxQueue: 0 } });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const parse = (jsonl: string) =>
  jsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

describe('blankspot check', () => {
  it('checks folders recursively and listed paths, reports unreadable files and flags the damaged photos', async () => {
    const { code, stdout, stderr } = await blankspot('check', 'shop', '--list', 'list.txt', '--html', 'report.html', '--quiet');
    const lines = parse(stdout);
    expect(lines).toHaveLength(3 + 3 + 1 + 2 + 3); // clean-0, in the folder and the list, once
    expect(lines.filter((l) => l.path === clean[0])).toHaveLength(1);
    const byPath = new Map(lines.map((l) => [l.path, l]));
    for (const d of damaged) expect(byPath.get(d)?.flagged, d).toBe(true);
    for (const c of clean) expect(byPath.get(c)?.flagged, c).toBe(false);
    expect(byPath.get(join(dir, 'shop', 'notes.png'))?.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(byPath.get(join(dir, 'missing.jpg'))?.error?.code).toBe('UNREADABLE_FILE');
    expect(byPath.get(join(dir, 'shop', 'empty.jpg'))?.error).toEqual({
      code: 'EMPTY_FILE',
      message: 'the file is empty (0 bytes)',
    });
    for (const other of [join(dir, 'shop', 'nested', 'animation.gif'), join(dir, 'shop', 'readme.txt')]) {
      expect(byPath.get(other)?.error?.code, other).toBe('NOT_A_PHOTO');
      expect(byPath.get(other)?.flagged, other).toBeUndefined();
    }
    // A listed path is checked like any other: read whole, no error.
    expect(byPath.get(join(dir, 'listed.png'))).toMatchObject({ image: { type: 'image/png', width: 256, height: 256 } });
    expect(byPath.get(join(dir, 'listed.png'))?.error).toBeUndefined();
    expect(code).toBe(1); // something was flagged
    expect(stderr).toMatch(/checked 10 photos in .* s: \d+ flagged, 3 unreadable; 2 other files not checked/);
    // The contact sheet shows the flagged photos, highest score first.
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    const flagged = lines.filter((l) => l.flagged).sort((a, b) => b.score! - a.score!);
    expect(html).toContain(`${flagged.length} of 10 photos flagged`);
    const order = flagged.map((l) => html.indexOf(`title="${l.path}"`));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect((html.match(/data:image\/jpeg;base64,/g) ?? []).length).toBe(flagged.length);
  });

  it('reports a folder it cannot read with its reason, and checks everything else', async () => {
    const locked = join(dir, 'shop', 'locked');
    await mkdir(locked);
    await copyFile(clean[0], join(locked, 'hidden.jpg'));
    await chmod(locked, 0);
    try {
      // Root reads any folder; without the two capabilities that let it, permissions bind root too.
      const via = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] : [];
      const { code, stdout, stderr } = await blankspotVia(via, 'check', 'shop', '--quiet');
      const byPath = new Map(parse(stdout).map((l) => [l.path, l]));
      expect(byPath.get(locked)?.error?.code).toBe('UNREADABLE_FOLDER');
      expect(byPath.get(locked)?.error?.message).toMatch(/EACCES|permission denied/);
      expect(byPath.has(join(locked, 'hidden.jpg'))).toBe(false);
      for (const d of damaged) expect(byPath.get(d)?.flagged, d).toBe(true);
      for (const c of clean) expect(byPath.get(c)?.flagged, c).toBe(false);
      expect(byPath.get(join(dir, 'shop', 'notes.png'))?.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(byPath.size).toBe(11); // 8 photos, the folder, 2 other files
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /checked 8 photos in .* s: \d+ flagged, 3 unreadable \(1 of them folders\); 2 other files not checked/,
      );
    } finally {
      await chmod(locked, 0o755);
      await rm(locked, { recursive: true, force: true });
    }
  });

  it('writes CSV and exits 0 when nothing is flagged', async () => {
    const { code, stdout } = await blankspot('check', ...clean, '--format', 'csv', '--quiet');
    const rows = stdout.trim().split('\n');
    expect(rows[0]).toBe(
      'path,flagged,score,threshold,model,version,width,height,box_x,box_y,box_width,box_height,error_code,error_message',
    );
    expect(rows).toHaveLength(4);
    for (const r of rows.slice(1)) expect(r.split(',')[1]).toBe('false');
    expect(code).toBe(0);
  });

  it('a check thread that stops before answering is an error, not a hang or a silent exit', async () => {
    const worker = checkWorker({});
    const answer = worker.ask(clean[0]);
    await worker.terminate();
    await expect(answer).rejects.toThrow(/stopped \(exit code \d+\) before answering/);
    await expect(worker.ask(clean[1])).rejects.toThrow(/had stopped/);
  });

  it('answers every file once, in any order, with threads that end together', async () => {
    const results: CheckedFile[] = [];
    await checkLocally([...clean, ...damaged], { threads: 2, onResult: (r) => results.push(r) });
    expect(results.map((r) => r.path).sort()).toEqual([...clean, ...damaged].sort());
    for (const r of results) expect(r.flagged).toBe(damaged.includes(r.path));
  });

  it('gives the same answers through a deployed API, retrying when it is busy', async () => {
    const local = parse((await blankspot('check', 'shop', '--quiet', '--threads', '1')).stdout);
    const run = await blankspot('check', 'shop', '--api', server.url, '--concurrency', '6', '--retries', '20', '--quiet');
    const remote = parse(run.stdout);
    // The server takes one check at a time and queues none: six at once must have met 429s, all retried.
    expect(Number(/(\d+) busy or failed answers retried/.exec(run.stderr)?.[1])).toBeGreaterThan(0);
    expect(remote).toHaveLength(local.length);
    const localBy = new Map(local.map((l) => [l.path, l]));
    for (const r of remote) {
      const l = localBy.get(r.path)!;
      if (l.error) {
        expect(r.error?.code).toBe(l.error.code);
        continue;
      }
      expect(r.error, r.path).toBeUndefined(); // no 429 left over: every busy answer was retried
      expect(r.flagged).toBe(l.flagged);
      expect(Math.abs(r.score! - l.score!)).toBeLessThan(1e-6);
    }
  });

  it('reports busy answers once its retries run out, each file with its line', async () => {
    // One check at a time, none queued, no retries: six at once must meet 429s that stay.
    const run = await blankspot('check', 'shop', '--api', server.url, '--concurrency', '6', '--retries', '0', '--quiet');
    const lines = parse(run.stdout);
    expect(lines.filter((l) => l.error?.code === 'RATE_LIMITED').length).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/0 busy or failed answers retried/);
  });

  it('says why it cannot start: no inputs, an unknown model, a models folder without a manifest, bad numbers', async () => {
    const refusals: Array<[string[], RegExp]> = [
      [['check'], /no photos to check: give files, folders or --list/],
      [['check', clean[0], '--model', 'nope'], /unknown model 'nope'/],
      [['check', clean[0], '--models', join(dir, 'no-such-folder')], /no models: no manifest\.json in \S*no-such-folder/],
      [['check', clean[0], '--retries', 'abc', '--api', server.url], /'abc' is not a whole number of 0 or more/],
      [['check', clean[0], '--retries', '-1', '--api', server.url], /'-1' is not a whole number of 0 or more/],
      [['check', clean[0], '--concurrency', '0', '--api', server.url], /'0' is not a positive whole number/],
    ];
    for (const [args, message] of refusals) {
      const run = await blankspot(...args, '--quiet');
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(run.code, args.join(' ')).not.toBe(1); // 1 means "something was flagged"
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stdout, args.join(' ')).toBe('');
    }
  });

  it('refuses a model whose file does not match its sha256, and says which', async () => {
    const models = join(dir, 'tampered-models');
    await cp(MODELS_DIR, models, { recursive: true });
    const manifest = JSON.parse(await readFile(join(models, 'manifest.json'), 'utf8')) as {
      default: string;
      models: Array<{ name: string; file: string }>;
    };
    const file = join(models, manifest.models.find((m) => m.name === manifest.default)!.file);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(file, bytes);
    const run = await blankspot('check', clean[0], '--models', models, '--quiet');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${manifest.default}.*sha256`, 's'));
    expect(run.stdout).toBe('');
  });

  it('gives every file a line when the API cannot be reached, and writes --out where asked', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const run = await blankspot('check', ...clean, '--api', closed, '--retries', '1', '--out', 'unreachable.jsonl', '--quiet');
    expect(run.stdout).toBe('');
    const lines = parse(await readFile(join(dir, 'unreachable.jsonl'), 'utf8'));
    expect(lines.map((l) => l.path).sort()).toEqual([...clean].sort());
    for (const l of lines) expect(l.error?.code, l.path).toBe('NETWORK');
    expect(run.stderr).toMatch(new RegExp(`checked ${clean.length} photos .* ${clean.length} unreadable`));
  });

  it('sends the API key with --api-key, and reports each file refused without it', async () => {
    const guarded = await startNodeServer({ port: 0, config: { apiKeys: ['k-shop'] } });
    try {
      const withKey = parse((await blankspot('check', ...clean, '--api', guarded.url, '--api-key', 'k-shop', '--quiet')).stdout);
      expect(withKey).toHaveLength(clean.length);
      for (const r of withKey) {
        expect(r.error, r.path).toBeUndefined();
        expect(r.flagged).toBe(false);
      }
      const without = parse((await blankspot('check', ...clean, '--api', guarded.url, '--quiet')).stdout);
      expect(without.map((r) => r.error?.code)).toEqual(clean.map(() => 'UNAUTHORIZED'));
    } finally {
      await guarded.close();
    }
  });
});
