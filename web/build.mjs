// Bundles the widget for browsers: one small entry that loads ONNX Runtime Web (and its WASM) lazily,
// on the first photo. The WASM files are copied next to the bundle, where the widget looks for them.
// Every script and WASM file also gets a brotli (.br) and a gzip (.gz) copy, which servers that look for
// them send as they are (the Node server's serveStatic does): the WASM is 14 MB as it is, 2.3 MB as brotli.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

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

// Brotli at its best quality takes about half a minute for the WASM: each result is kept by its input's
// sha256, so a rebuild with the same files takes none of it.
const CACHE = '../node_modules/.cache/blankspot-precompressed';
await mkdir(CACHE, { recursive: true });
const encoders = {
  br: (bytes) =>
    promisify(brotliCompress)(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    }),
  gz: (bytes) => promisify(gzip)(bytes, { level: 9 }),
};
async function precompress(file) {
  const bytes = await readFile(file);
  const key = createHash('sha256').update(bytes).digest('hex');
  await Promise.all(
    Object.entries(encoders).map(async ([ext, encode]) => {
      const cached = join(CACHE, `${key}.${ext}`);
      const out = await readFile(cached).catch(async () => {
        const encoded = await encode(bytes);
        await writeFile(cached, encoded);
        return encoded;
      });
      await writeFile(`${file}.${ext}`, out);
    }),
  );
}
const files = (await readdir('dist', { recursive: true })).filter((f) => /\.(js|mjs|wasm)$/.test(f));
await Promise.all(files.map((f) => precompress(join('dist', f))));
