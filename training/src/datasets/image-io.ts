/** Node adapter for images: decoding (with EXIF orientation), resizing, composing and JPEG, via sharp. */
import sharp from 'sharp';
import type { RgbaImage } from '@blankspot/core';

export async function decodeFile(path: string): Promise<RgbaImage> {
  const { data, info } = await sharp(path).rotate().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

export async function resizeRgba(image: RgbaImage, width: number, height: number): Promise<RgbaImage> {
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** JPEG round trip at the given quality: the compression artefacts every real upload carries. */
export async function jpegRoundTrip(image: RgbaImage, quality: number): Promise<RgbaImage> {
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality })
    .toBuffer();
  return decodeBuffer(jpeg);
}

/**
 * What an upload goes through after editing: sometimes a resize (which also softens every edge), then
 * JPEG at the given quality, with 4:2:0 chroma subsampling unless `fullChroma`.
 */
export async function uploadRoundTrip(image: RgbaImage, scale: number, quality: number, fullChroma: boolean): Promise<RgbaImage> {
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } }).flatten({
    background: '#ffffff',
  });
  if (scale !== 1) {
    pipeline = pipeline.resize(Math.max(8, Math.round(image.width * scale)), Math.max(8, Math.round(image.height * scale)), {
      fit: 'fill',
    });
  }
  const jpeg = await pipeline.jpeg({ quality, chromaSubsampling: fullChroma ? '4:4:4' : '4:2:0' }).toBuffer();
  return decodeBuffer(jpeg);
}

export async function decodeBuffer(bytes: Uint8Array): Promise<RgbaImage> {
  const { data, info } = await sharp(bytes).rotate().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

export interface Layer {
  image: RgbaImage;
  left: number;
  top: number;
}

/** The part of a layer inside a width x height canvas (sharp refuses overhangs); null when none is. */
function clipLayer(layer: Layer, width: number, height: number): Layer | null {
  const left = Math.round(layer.left);
  const top = Math.round(layer.top);
  const x0 = Math.max(0, -left);
  const y0 = Math.max(0, -top);
  const x1 = Math.min(layer.image.width, width - left);
  const y1 = Math.min(layer.image.height, height - top);
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return { image: cropRgba(layer.image, x0, y0, x1 - x0, y1 - y0), left: left + x0, top: top + y0 };
}

/** Layers composed in order over a solid background, by sharp (premultiplied alpha); overhangs are cut off. */
export async function compose(width: number, height: number, background: number, layers: Layer[]): Promise<RgbaImage> {
  const inside = layers.map((l) => clipLayer(l, width, height)).filter((l): l is Layer => l != null);
  const { data, info } = await sharp({
    create: { width, height, channels: 4, background: { r: background, g: background, b: background, alpha: 1 } },
  })
    .composite(
      inside.map((l) => ({
        input: Buffer.from(l.image.data.buffer, l.image.data.byteOffset, l.image.data.length),
        raw: { width: l.image.width, height: l.image.height, channels: 4 as const },
        left: Math.round(l.left),
        top: Math.round(l.top),
      })),
    )
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A soft shadow: the object's alpha, blurred, as a translucent black layer. */
export async function softShadow(object: RgbaImage, sigma: number, opacity: number): Promise<RgbaImage> {
  const pad = Math.ceil(sigma * 3);
  const w = object.width + 2 * pad;
  const h = object.height + 2 * pad;
  const mask = new Uint8Array(w * h * 4);
  for (let y = 0; y < object.height; y++) {
    for (let x = 0; x < object.width; x++) {
      const a = object.data[(y * object.width + x) * 4 + 3];
      mask[((y + pad) * w + x + pad) * 4 + 3] = Math.round(a * opacity);
    }
  }
  const { data, info } = await sharp(mask, { raw: { width: w, height: h, channels: 4 } })
    .blur(sigma)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Writes a greyscale [0,1] image (with optional RGB overlay) as PNG. */
export async function writeRgbPng(path: string, width: number, height: number, rgb: Uint8Array): Promise<void> {
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
}

export function cropRgba(image: RgbaImage, left: number, top: number, width: number, height: number): RgbaImage {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 4;
    out.set(image.data.subarray(from, from + width * 4), y * width * 4);
  }
  return { width, height, data: out };
}

export function solidRgba(width: number, height: number, level: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = data[i + 1] = data[i + 2] = level;
    data[i + 3] = 255;
  }
  return { width, height, data };
}

/** How a cut-out is varied before it is placed: a mirror image, a tilt, a stretch, other colours. */
export interface CutoutVariation {
  mirror: boolean;
  /** Degrees; 0 keeps it upright. */
  tilt: number;
  /** Width multiplier against height (1 keeps the aspect). */
  stretch: number;
  /** Hue rotation in degrees, saturation and brightness multipliers (sharp's modulate). */
  hue: number;
  saturation: number;
  brightness: number;
}

/**
 * A cut-out varied by sharp: the repo holds a few hundred cut-outs, so without this the network learns
 * their silhouettes and colours by heart. Transparent where the tilt uncovers corners.
 */
export async function varyCutout(image: RgbaImage, v: CutoutVariation): Promise<RgbaImage> {
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } });
  if (v.mirror) pipeline = pipeline.flop();
  if (v.stretch !== 1) {
    pipeline = pipeline.resize(Math.max(2, Math.round(image.width * v.stretch)), image.height, { fit: 'fill' });
  }
  if (v.hue !== 0 || v.saturation !== 1 || v.brightness !== 1) {
    pipeline = pipeline.modulate({ hue: Math.round(v.hue), saturation: v.saturation, brightness: v.brightness });
  }
  // sharp applies rotate before resize in one pipeline; a second pass keeps the stretch in the object's frame.
  let { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (v.tilt !== 0) {
    ({ data, info } = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
      .rotate(v.tilt, { background: { r: 255, g: 255, b: 255, alpha: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true }));
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/**
 * An object with straight edges at slanted angles: a texture inside a convex polygon (vertices as
 * fractions of the texture's width and height, in order round it). Sails, boards, triangles and tilted
 * boxes are clean products whose straight edges meet white; a pasted rectangle's edges are upright or
 * level, so this teaches that a straight edge alone is not damage.
 */
export function polygonOutline(texture: RgbaImage, vertices: ReadonlyArray<readonly [number, number]>): RgbaImage {
  const { width, height } = texture;
  const data = Uint8Array.from(texture.data);
  // Each edge as a line a*x + b*y + c = signed distance in pixels, positive inside.
  const points = vertices.map(([u, v]) => [u * width, v * height] as const);
  let area = 0;
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    area += x0 * y1 - x1 * y0;
  }
  const turn = area >= 0 ? 1 : -1;
  const lines = points.map(([x0, y0], i) => {
    const [x1, y1] = points[(i + 1) % points.length];
    const length = Math.hypot(x1 - x0, y1 - y0) || 1;
    const a = (-(y1 - y0) / length) * turn;
    const b = ((x1 - x0) / length) * turn;
    return [a, b, -(a * x0 + b * y0)] as const;
  });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let edge = Infinity;
      for (const [a, b, c] of lines) edge = Math.min(edge, a * (x + 0.5) + b * (y + 0.5) + c);
      const p = (y * width + x) * 4 + 3;
      data[p] = edge >= 0.5 ? texture.data[p] : edge <= -0.5 ? 0 : Math.round(texture.data[p] * (edge + 0.5));
    }
  }
  return { width, height, data };
}

/**
 * An object of a shape no cut-out has: a texture (a piece of a photo) inside a smooth random outline,
 * a radius that varies round the centre by a few low harmonics. Many more silhouettes than the cut-outs
 * give, with real texture inside, so "a straight cut in a rounded outline" is learnt, not these outlines.
 */
export function blobOutline(texture: RgbaImage, harmonics: ReadonlyArray<readonly [number, number, number]>): RgbaImage {
  const { width, height } = texture;
  const data = Uint8Array.from(texture.data);
  const short = Math.min(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (x + 0.5) / width - 0.5;
      const dy = (y + 0.5) / height - 0.5;
      const angle = Math.atan2(dy, dx);
      let radius = 0.36;
      for (const [k, amplitude, phase] of harmonics) radius += amplitude * Math.cos(k * angle + phase);
      // Signed distance to the outline in pixels; a one-pixel anti-aliased rim, as a cut-out's matte has.
      const edge = (Math.min(0.5, radius) - Math.hypot(dx, dy)) * short;
      const p = (y * width + x) * 4 + 3;
      data[p] = edge >= 0.5 ? texture.data[p] : edge <= -0.5 ? 0 : Math.round(texture.data[p] * (edge + 0.5));
    }
  }
  return { width, height, data };
}
