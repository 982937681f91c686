/** Local servers for benchmarks and tests: free ports, and the Worker in workerd (via `wrangler dev`, or bare). */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const EDGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const WRANGLER = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js');
/** Offline and quiet: no metrics, no colour codes in the logs we parse. */
export const WRANGLER_ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };

export interface WranglerDev {
  url: string;
  /** Process group of wrangler and its workerd (for memory sampling). */
  pid: number;
  close(): Promise<void>;
  /** What the Worker wrote (its request log lines), the last megabyte of it. */
  output?(): string;
}

/**
 * A started server process group: its URL, its pid for memory sampling, and how to stop it. `scratch`:
 * a folder of its own that stopping removes (a bundle is 18 MB; tests and benchmarks start many).
 */
function running(proc: ChildProcess, url: string, scratch?: string): WranglerDev {
  return {
    url,
    pid: proc.pid!,
    close: async () => {
      if (proc.exitCode == null) {
        const exited = new Promise((r) => proc.once('exit', r));
        process.kill(-proc.pid!, 'SIGTERM');
        await exited;
      }
      if (scratch != null) await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** Starts `wrangler dev` for edge/ on free ports with these vars, and waits until it is ready. */
export async function startWranglerDev(vars: Record<string, string> = {}): Promise<WranglerDev> {
  const port = await freePort();
  const args = ['dev', '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(await freePort())];
  args.push('--show-interactive-dev-session=false');
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  const proc = spawn(process.execPath, [WRANGLER, ...args], {
    cwd: EDGE_DIR,
    env: WRANGLER_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start in 90 s:\n${log}`)), 90_000);
    // Stays attached: it keeps draining what wrangler writes (a pipe nobody reads would stall workerd)
    // and keeps its last megabyte, where the Worker's request log lines are.
    const onData = (chunk: Buffer) => {
      log += String(chunk);
      if (log.length > 2 << 20) log = log.slice(-(1 << 20));
      if (/Ready on http/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`wrangler dev exited with ${code}:\n${log}`)));
  });
  return { ...running(proc, `http://127.0.0.1:${port}`), output: () => log };
}

/**
 * The Worker as deployed, in bare workerd: the bundle `wrangler deploy --dry-run` would upload, served
 * by the workerd binary wrangler ships, with models/ and the widget as a disk service behind the ASSETS binding. No
 * dev proxy, inspector or live reload, whose own memory grows with every request (docs/reliability.md).
 */
/**
 * The deployed bundle in bare workerd. `ready: 'healthz'` waits until /healthz answers (every model
 * loaded); `ready: 'socket'` only until workerd accepts connections, so the first request finds the
 * models not yet loaded: a cold start. `modelsDir`: the folder served as the ASSETS binding's models/ (the repo's models/).
 */
export async function startBareWorkerd({
  ready = 'healthz',
  modelsDir = fileURLToPath(new URL('../../models', import.meta.url)),
}: { ready?: 'healthz' | 'socket'; modelsDir?: string } = {}): Promise<WranglerDev> {
  const dir = await mkdtemp(join(tmpdir(), 'blankspot-workerd-'));
  try {
    return await serveBundle(dir, ready, modelsDir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Bundles the Worker into `dir`, serves it from there in workerd and waits until it is `ready`. */
async function serveBundle(dir: string, ready: 'healthz' | 'socket', modelsDir: string): Promise<WranglerDev> {
  await promisify(execFile)(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', dir], {
    cwd: EDGE_DIR,
    env: WRANGLER_ENV,
  });
  const wasm = (await readdir(dir)).filter((f) => f.endsWith('.wasm'));
  // What wrangler's assets hold (scripts/worker-assets.mjs), with this run's models folder at models/.
  const assets = join(dir, 'assets');
  await mkdir(assets);
  await symlink(modelsDir, join(assets, 'models'));
  await symlink(join(EDGE_DIR, 'dist-assets', 'widget'), join(assets, 'widget'));
  const port = await freePort();
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "assets", disk = (path = ${JSON.stringify(assets)}, writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const mainWorker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
${wasm.map((f) => `    (name = ${JSON.stringify(f)}, wasm = embed ${JSON.stringify(f)}),`).join('\n')}
  ],
  compatibilityDate = "2026-04-01",
  bindings = [(name = "ASSETS", service = "assets")],
);
`;
  await writeFile(join(dir, 'config.capnp'), config);
  const workerd = createRequire(import.meta.url).resolve('workerd/bin/workerd');
  // Quiet: the codecs log every damaged file they meet.
  const proc = spawn(workerd, ['serve', 'config.capnp'], { cwd: dir, stdio: 'ignore', detached: true });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode != null) throw new Error(`workerd exited with ${proc.exitCode}`);
    const ok =
      ready === 'socket'
        ? await new Promise<boolean>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => {
              socket.destroy();
              resolve(true);
            });
            socket.on('error', () => resolve(false));
          })
        : await fetch(`${url}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
    if (ok) break;
    if (Date.now() > deadline) {
      process.kill(-proc.pid!, 'SIGTERM');
      throw new Error(`workerd was not ready (${ready}) in 60 s`);
    }
    await new Promise((r) => setTimeout(r, ready === 'socket' ? 5 : 200));
  }
  return running(proc, url, dir);
}
