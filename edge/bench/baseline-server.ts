/**
 * The benchmark's baseline: the same HTTP stack and process model as the API, doing only the part
 * nobody can skip — decode the photo and resize it to 64x64 greyscale with sharp.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import sharp from 'sharp';
import { relaunchOnJemalloc } from '@blankspot/edge/node';

// The same process model as the API, allocator included (sharp also threads more on jemalloc).
if (relaunchOnJemalloc()) await new Promise(() => {});

const app = new Hono();
app.post('/decode', async (c) => {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const { info } = await sharp(bytes)
    .rotate()
    .resize(64, 64, { fit: 'fill' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return c.json({ width: info.width, height: info.height });
});
const server = serve({ fetch: app.fetch, port: Number(process.argv[2] ?? 0), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening ${info.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
