/** Real photos (from the repo's data) with and without a pasted rectangle, and hostile bodies. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export const DATA_DIR = fileURLToPath(new URL('../../data/photos', import.meta.url));

export async function photoFiles(folder: 'natural' | 'product', count: number): Promise<string[]> {
  const files = (await readdir(join(DATA_DIR, folder))).filter((f) => f.endsWith('.png')).sort();
  return files.slice(0, count).map((f) => join(DATA_DIR, folder, f));
}

/** A photo as JPEG at its own size, optionally with a white rectangle of `frac` of each side pasted at (fx, fy). */
export async function photoJpeg(path: string, rect?: { fx: number; fy: number; frac: number }, size = 512): Promise<Buffer> {
  let img = sharp(path).resize(size, size);
  if (rect) {
    const w = Math.round(size * rect.frac);
    const white = await sharp({ create: { width: w, height: w, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    img = sharp(await img.png().toBuffer()).composite([
      { input: white, left: Math.round(rect.fx * size), top: Math.round(rect.fy * size) },
    ]);
  }
  return img.jpeg({ quality: 90 }).toBuffer();
}

export async function readData(path: string): Promise<Buffer> {
  return readFile(path);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG whose header claims the given size, with one tiny (wrong) IDAT: a decompression-bomb shape. */
export function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG with a text chunk, e.g. to smuggle markup into an otherwise valid image. */
export function pngWithText(png: Buffer, text: string): Buffer {
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), pngChunk('tEXt', Buffer.from(`Comment\0${text}`, 'latin1')), png.subarray(iend)]);
}

/** A JPEG whose SOF claims the given size. */
export function jpegClaiming(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9;) {
    const marker = out[i + 1];
    const len = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + len;
  }
  throw new Error('no SOF');
}

/** A WebP (extended format) whose VP8X header claims the given canvas size. */
export function webpClaiming(width: number, height: number): Buffer {
  const vp8x = Buffer.alloc(10);
  vp8x.writeUIntLE(width - 1, 4, 3);
  vp8x.writeUIntLE(height - 1, 7, 3);
  const chunk = Buffer.concat([Buffer.from('VP8X'), Buffer.from([10, 0, 0, 0]), vp8x]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF');
  riff.writeUInt32LE(4 + chunk.length, 4);
  return Buffer.concat([riff, Buffer.from('WEBP'), chunk]);
}
