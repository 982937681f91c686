/** A contact sheet of examples: 64x64 tiles, positives outlined in red where the rectangle is. */
import { INPUT_SIZE } from '@blankspot/core';
import { exampleImage, type Examples } from './build.js';
import { writeRgbPng } from './image-io.js';

export async function writePreviewGrid(ex: Examples, path: string, count = Math.min(ex.count, 64), scale = 2): Promise<void> {
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const tile = INPUT_SIZE * scale;
  const gap = 4;
  const width = cols * (tile + gap) + gap;
  const height = rows * (tile + gap) + gap;
  const rgb = new Uint8Array(width * height * 3).fill(96);
  for (let i = 0; i < count; i++) {
    const ox = gap + (i % cols) * (tile + gap);
    const oy = gap + Math.floor(i / cols) * (tile + gap);
    const img = exampleImage(ex, i);
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const v = Math.round(255 * img[Math.floor(y / scale) * INPUT_SIZE + Math.floor(x / scale)]);
        rgb.fill(v, ((oy + y) * width + ox + x) * 3, ((oy + y) * width + ox + x) * 3 + 3);
      }
    }
    if (ex.labels[i] === 1) {
      const [bx, by, bw, bh] = Array.from(ex.boxes.subarray(i * 4, i * 4 + 4)).map((v) => Math.round(v * scale));
      const red = (x: number, y: number) => {
        if (x < 0 || y < 0 || x >= tile || y >= tile) return;
        rgb.set([230, 30, 30], ((oy + y) * width + ox + x) * 3);
      };
      for (let x = bx - 1; x <= bx + bw; x++) {
        red(x, by - 1);
        red(x, by + bh);
      }
      for (let y = by - 1; y <= by + bh; y++) {
        red(bx - 1, y);
        red(bx + bw, y);
      }
    }
  }
  await writeRgbPng(path, width, height, rgb);
}
