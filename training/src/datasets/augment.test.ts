import { describe, expect, it } from 'vitest';
import { blobOutline, solidRgba, varyCutout } from './image-io.js';
import type { RgbaImage } from '@blankspot/core';

const alphaAt = (img: RgbaImage, x: number, y: number) => img.data[(y * img.width + x) * 4 + 3];

/** An opaque left half (dark red) and a transparent right half: where the object is tells a mirror. */
function halfObject(): RgbaImage {
  const img = solidRgba(40, 20, 0);
  for (let y = 0; y < 20; y++)
    for (let x = 0; x < 40; x++) {
      const p = (y * 40 + x) * 4;
      img.data.set(x < 20 ? [160, 20, 20, 255] : [0, 0, 0, 0], p);
    }
  return img;
}

const none = { mirror: false, tilt: 0, stretch: 1, hue: 0, saturation: 1, brightness: 1 };

describe('cut-out variations', () => {
  it('leaves a cut-out as it is when asked for no change', async () => {
    const src = halfObject();
    const out = await varyCutout(src, none);
    expect(out.width).toBe(40);
    expect(Array.from(out.data)).toEqual(Array.from(src.data));
  });

  it('mirrors: the opaque half moves to the right', async () => {
    const out = await varyCutout(halfObject(), { ...none, mirror: true });
    expect(alphaAt(out, 5, 10)).toBe(0);
    expect(alphaAt(out, 35, 10)).toBe(255);
  });

  it('stretches the width only, and tilts onto a larger, transparent-cornered canvas', async () => {
    const stretched = await varyCutout(halfObject(), { ...none, stretch: 1.25 });
    expect([stretched.width, stretched.height]).toEqual([50, 20]);
    const square = solidRgba(30, 30, 90);
    const tilted = await varyCutout(square, { ...none, tilt: 20 });
    expect(tilted.width).toBeGreaterThan(30);
    expect(alphaAt(tilted, 0, 0)).toBe(0);
    expect(alphaAt(tilted, tilted.width >> 1, tilted.height >> 1)).toBe(255);
  });

  it('recolours without touching the outline', async () => {
    const src = halfObject();
    const out = await varyCutout(src, { ...none, hue: 120, saturation: 1.2, brightness: 1.1 });
    const p = (10 * 40 + 5) * 4;
    expect(out.data.slice(p, p + 3)).not.toEqual(src.data.slice(p, p + 3));
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) expect(alphaAt(out, x, y)).toBe(alphaAt(src, x, y));
  });
});

describe('photo pieces in random outlines', () => {
  it('is opaque at the centre, transparent at the corners, with an anti-aliased rim', () => {
    const texture = solidRgba(64, 48, 120);
    const out = blobOutline(texture, [
      [3, 0.05, 0.4],
      [5, 0.03, 1.1],
    ]);
    expect(alphaAt(out, 32, 24)).toBe(255);
    expect(alphaAt(out, 0, 0)).toBe(0);
    expect(alphaAt(out, 63, 47)).toBe(0);
    const partial = Array.from({ length: 64 * 48 }, (_, i) => out.data[i * 4 + 3]).filter((a) => a > 0 && a < 255);
    expect(partial.length).toBeGreaterThan(20);
    // Colour is the texture's; only alpha is cut.
    expect(out.data[(24 * 64 + 32) * 4]).toBe(120);
  });

  it('with no harmonics is an ellipse of radius 0.36 of each side', () => {
    const out = blobOutline(solidRgba(100, 100, 10), []);
    expect(alphaAt(out, 50, 50 - 30)).toBe(255);
    expect(alphaAt(out, 50, 50 - 40)).toBe(0);
    expect(alphaAt(out, 50 + 40, 50)).toBe(0);
  });
});
