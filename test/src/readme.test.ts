/**
 * A newcomer's first commands, exactly as the README writes them, run from the repository root after
 * `npm ci` (which `.ci/run` and the README's test command do): the command is on npx's path, and
 * `npm start` takes its documented flags.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@blankspot/edge/dev-servers';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let photo: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blankspot-readme-'));
  photo = join(dir, 'photo.jpg');
  await sharp(join(REPO, 'data/photos/natural/gcompris__explore_monuments_resource_wonders_colosseum.png'))
    .jpeg({ quality: 90 })
    .toFile(photo);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `npm start -- ARGS` from the repo root, in its own process group; resolves once it announces its URL. */
async function npmStart(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn('npm', ['start', '--', ...args], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /blankspot API and demo page on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`npm start exited ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(-child.pid!, 'SIGTERM');
  });
}

describe('the README, as a newcomer runs it', () => {
  it('npx blankspot --help lists every command', async () => {
    const { stdout } = await promisify(execFile)('npx', ['--no-install', 'blankspot', '--help'], { cwd: REPO });
    for (const command of ['train', 'dataset', 'export', 'check', 'evaluate', 'report']) expect(stdout).toContain(command);
  });

  it('npm start -- --port N serves there, and the curl example answers', async () => {
    const port = await freePort();
    const { child, url, output } = await npmStart(['--port', String(port)]);
    try {
      expect(url).toBe(`http://127.0.0.1:${port}`);
      const { stdout } = await promisify(execFile)('curl', ['-s', '--data-binary', `@${photo}`, `${url}/v1/check`]);
      const answer = JSON.parse(stdout) as { flagged: boolean; score: number; model: { name: string }; requestId: string };
      expect(typeof answer.flagged).toBe('boolean');
      expect(answer.score).toBeGreaterThan(0);
      expect(answer.score).toBeLessThan(1);
      // One JSON log line per request, with what an operator needs and never the image.
      await expect.poll(() => output().includes(answer.requestId)).toBe(true);
      const line = output()
        .split('\n')
        .find((l) => l.includes(answer.requestId))!;
      expect(JSON.parse(line)).toMatchObject({
        requestId: answer.requestId,
        route: '/v1/check',
        status: 200,
        model: answer.model.name,
        flagged: answer.flagged,
        score: answer.score,
        bytes: (await readFile(photo)).length,
      });
      // Paths no route knows share one label, so scanners cannot grow the metrics without bound.
      expect((await fetch(`${url}/no/such/path`)).status).toBe(404);
      // Prometheus metrics, in its text format, counting that request.
      const metrics = await fetch(`${url}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      expect(text).toMatch(
        new RegExp(`blankspot_requests_total\\{route="/v1/check",status="200",code="",model="${answer.model.name}"\\} 1`),
      );
      expect(text).toMatch(new RegExp(`blankspot_model_loaded\\{model="${answer.model.name}",default="true"\\} 1`));
      expect(text).toMatch(/blankspot_request_duration_seconds_bucket\{le="[\d.]+",route="\/v1\/check"\}/);
      expect(text).toMatch(/blankspot_checks_in_progress\{state="waiting"\} 0/);
      expect(text).toMatch(/blankspot_requests_total\{route="\*",status="404",code="NOT_FOUND",model=""\} 1/);
      expect(text).not.toContain('no/such/path');
    } finally {
      await stop(child);
    }
  });

  it('the training quick start: train, export and serve a model, every command as the README writes it', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Training your own model'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
    const commands = block
      .replace(/\\\n\s*/g, '')
      .trim()
      .split('\n');
    expect(commands).toHaveLength(3);
    expect(commands[2]).toBe('npm start -- --models my-models');
    // The first two in a folder of their own (not to write into the repository's runs/), where npx finds the
    // command as it does in the repository: in node_modules/.bin.
    const work = await mkdtemp(join(tmpdir(), 'blankspot-quickstart-'));
    try {
      await mkdir(join(work, 'node_modules', '.bin'), { recursive: true });
      await symlink(join(REPO, 'node_modules', '.bin', 'blankspot'), join(work, 'node_modules', '.bin', 'blankspot'));
      for (const command of commands.slice(0, 2)) await promisify(execFile)('sh', ['-c', command], { cwd: work });
      // The third from the repository (npm start's home), with the folder the export wrote.
      const { child, url } = await npmStart(['--models', join(work, 'my-models'), '--port', String(await freePort())]);
      try {
        const { models } = (await (await fetch(`${url}/v1/models`)).json()) as {
          models: Array<{ name: string; default: boolean }>;
        };
        expect(models).toMatchObject([{ name: 'my-model', default: true }]);
        const res = await fetch(`${url}/v1/check`, { method: 'POST', body: new Uint8Array(await readFile(photo)) });
        expect(((await res.json()) as { model: { name: string } }).model.name).toBe('my-model');
      } finally {
        await stop(child);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('npm start -- --models DIR serves the models in DIR', async () => {
    const models = join(dir, 'models');
    await cp(join(REPO, 'models'), models, { recursive: true });
    const manifest = JSON.parse(await readFile(join(models, 'manifest.json'), 'utf8')) as { default: string };
    manifest.default = 'cnn-leaky';
    await writeFile(join(models, 'manifest.json'), JSON.stringify(manifest));
    const { child, url } = await npmStart(['--port', String(await freePort()), '--models', models]);
    try {
      const list = (await (await fetch(`${url}/v1/models`)).json()) as { models: Array<{ name: string; default: boolean }> };
      expect(list.models.find((m) => m.default)?.name).toBe('cnn-leaky');
    } finally {
      await stop(child);
    }
  });
});
