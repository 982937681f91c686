#!/usr/bin/env node
// The Worker's static assets (wrangler.toml [assets]): the models at /models/ and the widget at /widget/,
// as the Node server serves them, so the Worker's demo page runs the widget too. Workers refuse an asset
// over 25 MiB: ONNX Runtime's WebGPU build (jsep) is one, so a Worker-hosted widget runs on WASM (it falls
// back to WASM whenever WebGPU cannot load). The widget's precompressed copies (.br, .gz) stay out too:
// Cloudflare compresses what it serves itself.
import { cp, mkdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const MAX_ASSET_BYTES = 25 * 1024 * 1024;
const out = fileURLToPath(new URL('../dist-assets/', import.meta.url));
const skipped = [];
const fits = async (path) => {
  if (/\.(br|gz)$/.test(path)) return false;
  const s = await stat(path);
  if (s.isFile() && s.size > MAX_ASSET_BYTES) skipped.push(path);
  return !(s.isFile() && s.size > MAX_ASSET_BYTES);
};
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await cp(fileURLToPath(new URL('../../models/', import.meta.url)), `${out}models`, { recursive: true, filter: fits });
await cp(fileURLToPath(new URL('../../web/dist/', import.meta.url)), `${out}widget`, { recursive: true, filter: fits });
for (const path of skipped) console.log(`worker assets: left out ${path} (over the Workers limit of 25 MiB per asset)`);
