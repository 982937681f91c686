import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { encode } from 'fast-png';
import { decodePng } from './png.js';

const PHOTO = new URL('../../../data/photos/product/gcompris__categorization_resource_images_tools_wrench.png', import.meta.url)
  .pathname;

/** What the Node adapter (libvips) decodes the same file to. */
async function viaSharp(png: Buffer): Promise<Uint8Array> {
  const { data } = await sharp(png)
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

describe('the Worker PNG decoder', () => {
  const base = () => sharp(PHOTO).resize(97, 61);
  const variants: Array<[string, () => Promise<Buffer>]> = [
    ['RGBA 8-bit', () => base().ensureAlpha(0.6).png().toBuffer()],
    ['RGB 8-bit', () => base().removeAlpha().png().toBuffer()],
    ['grey 8-bit', () => base().removeAlpha().greyscale().png().toBuffer()],
    ['grey + alpha', () => base().greyscale().ensureAlpha(0.3).png().toBuffer()],
    ['RGB 16-bit', () => base().removeAlpha().toColourspace('rgb16').png().toBuffer()],
    ['RGBA 16-bit', () => base().ensureAlpha(0.5).toColourspace('rgb16').png().toBuffer()],
    ['palette 8-bit with alpha', () => base().png({ palette: true, colours: 200 }).toBuffer()],
    ['palette 4-bit', () => base().removeAlpha().png({ palette: true, colours: 16 }).toBuffer()],
    ['palette 2-bit', () => base().removeAlpha().png({ palette: true, colours: 4 }).toBuffer()],
    ['palette 1-bit', () => base().removeAlpha().png({ palette: true, colours: 2 }).toBuffer()],
    ['interlaced', () => base().png({ progressive: true }).toBuffer()],
    [
      'grey 4-bit with a tRNS key',
      async () => {
        // 4-bit grey with tRNS: written by fast-png, as sharp does not write low-depth grey.
        const width = 9;
        const height = 3;
        const data = new Uint8Array(Math.ceil((width * 4) / 8) * height);
        for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
        return Buffer.from(encode({ width, height, data, depth: 4, channels: 1, transparency: new Uint16Array([5]) }));
      },
    ],
  ];
  for (const [label, make] of variants) {
    it(`decodes ${label} like libvips`, async () => {
      const png = await make();
      const ours = decodePng(new Uint8Array(png));
      const theirs = await viaSharp(png);
      expect(ours.data.length).toBe(theirs.length);
      let worst = 0;
      for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(ours.data[i] - theirs[i]));
      expect(worst, label).toBeLessThanOrEqual(1);
    });
  }

  it('throws on damaged files instead of returning garbage', () => {
    return base()
      .png()
      .toBuffer()
      .then((png) => {
        const flipped = new Uint8Array(png);
        flipped[flipped.length >> 1] ^= 0xff;
        expect(() => decodePng(flipped)).toThrow();
        expect(() => decodePng(new Uint8Array(png).subarray(0, png.length >> 1))).toThrow();
      });
  });
});
