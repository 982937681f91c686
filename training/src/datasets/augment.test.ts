import { describe, expect, it } from 'vitest';
import { blobOutline, polygonOutline, solidRgba, varyCutout } from './image-io.js';
import { slantedPolygon } from './scenes.js';
import { Rng } from '../rng.js';
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

describe('objects with slanted straight edges', () => {
  it('cuts a texture to a convex polygon with an anti-aliased rim, whichever way round its vertices go', () => {
    const triangle: Array<[number, number]> = [
      [0.5, 0],
      [1, 1],
      [0, 1],
    ];
    for (const vertices of [triangle, [...triangle].reverse()]) {
      const out = polygonOutline(solidRgba(60, 60, 90), vertices);
      expect(alphaAt(out, 30, 40)).toBe(255);
      expect(alphaAt(out, 2, 2)).toBe(0);
      expect(alphaAt(out, 57, 2)).toBe(0);
      // The left edge crosses row 31's centre at x = 14.25: that pixel is partly covered, its neighbours not.
      expect(alphaAt(out, 14, 31)).toBeGreaterThan(0);
      expect(alphaAt(out, 14, 31)).toBeLessThan(255);
      expect(alphaAt(out, 11, 31)).toBe(0);
      expect(alphaAt(out, 17, 31)).toBe(255);
      expect(out.data[(40 * 60 + 30) * 4]).toBe(90);
    }
  });

  it('draws polygons that fill their box and have no upright or level edge', () => {
    for (let i = 0; i < 200; i++) {
      const rng = Rng.for('slanted', i);
      const w = rng.intBetween(20, 300);
      const h = i === 0 ? w * 8 : Math.round(w * rng.uniform(0.45, 2.2)); // the first: no room but a rhombus
      const vertices = slantedPolygon(w, h, rng);
      expect(vertices.length).toBeGreaterThanOrEqual(3);
      expect(vertices.length).toBeLessThanOrEqual(6);
      expect(Math.min(...vertices.map(([u]) => u))).toBeCloseTo(0);
      expect(Math.max(...vertices.map(([, v]) => v))).toBeCloseTo(1);
      vertices.forEach(([u0, v0], k) => {
        const [u1, v1] = vertices[(k + 1) % vertices.length];
        const degrees = (Math.atan2(Math.abs((v1 - v0) * h), Math.abs((u1 - u0) * w)) * 180) / Math.PI;
        expect(degrees).toBeGreaterThanOrEqual(6);
        expect(degrees).toBeLessThanOrEqual(84);
      });
    }
  });
});
