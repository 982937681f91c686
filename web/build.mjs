// Bundles the widget for browsers: one small entry that loads ONNX Runtime Web (and its WASM) lazily,
// on the first photo. The WASM files are copied next to the bundle, where the widget looks for them.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const ortDist = dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
await mkdir('dist/ort', { recursive: true });
for (const f of [
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
  'ort-wasm-simd-threaded.jsep.mjs',
])
  await copyFile(join(ortDist, f), join('dist/ort', f));
await build({
  entryPoints: { blankspot: 'src/index.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
