/**
 * Clean images that look like what sellers upload (the `upload` protocol's sources): product shots on
 * pure white and other studio backgrounds, and natural photos that include blown-out highlights.
 * Every false alarm seen on real catalogues was a clean object on white, so the hard cases are here
 * on purpose: white and light products, straight edges and flat white areas that are not damage.
 */
import type { RgbaImage } from '@blankspot/core';
import type { Rng } from '../rng.js';
import {
  blobOutline,
  compose,
  cropRgba,
  polygonOutline,
  resizeRgba,
  softShadow,
  solidRgba,
  varyCutout,
  type Layer,
} from './image-io.js';

/** Side range of composed scenes: large enough that a pasted rectangle's edge is sharp before resizing. */
export const SCENE_SIDE = { min: 256, max: 448 } as const;

/**
 * A canvas background: pure white most of the time, as marketplaces require for main images; with
 * `ownBackdrop`, never pure white: the light-grey, white-ish or swept backdrop a photo was shot on.
 */
export function studioBackground(width: number, height: number, rng: Rng, ownBackdrop = false): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  const kind = ownBackdrop ? rng.uniform(0.6, 1) : rng.float();
  let level = (_x: number, _y: number) => 255;
  if (kind < 0.6) level = () => 255;
  else if (kind < 0.75) {
    const v = rng.intBetween(244, 254);
    level = () => v;
  } else if (kind < 0.85) {
    const v = rng.intBetween(212, 243);
    level = () => v;
  } else {
    // A studio sweep: white at one end, light grey at the other, vertical or radial.
    const far = rng.intBetween(205, 245);
    const radial = rng.chance(0.4);
    const flip = rng.chance(0.5);
    level = (x, y) => {
      const t = radial ? Math.min(1, Math.hypot(x / width - 0.5, y / height - 0.5) * 1.4) : flip ? 1 - y / height : y / height;
      return Math.round(255 + (far - 255) * t * t);
    };
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      data[p] = data[p + 1] = data[p + 2] = level(x, y);
      data[p + 3] = 255;
    }
  }
  return { width, height, data };
}

function fillRect(img: RgbaImage, x0: number, y0: number, w: number, h: number, rgb: readonly number[], alpha = 255): void {
  const x1 = Math.min(img.width, Math.round(x0 + w));
  const y1 = Math.min(img.height, Math.round(y0 + h));
  for (let y = Math.max(0, Math.round(y0)); y < y1; y++) {
    for (let x = Math.max(0, Math.round(x0)); x < x1; x++) {
      const p = (y * img.width + x) * 4;
      img.data[p] = rgb[0];
      img.data[p + 1] = rgb[1];
      img.data[p + 2] = rgb[2];
      img.data[p + 3] = alpha;
    }
  }
}

/** Lines of dark "text": what makes a label, a page or a box print look unlike a flat pasted rectangle. */
function textLines(img: RgbaImage, x: number, y: number, w: number, h: number, rng: Rng): void {
  const lineH = Math.max(1, Math.round(rng.uniform(0.03, 0.09) * Math.max(h, 12)));
  const ink = rng.intBetween(10, 120);
  for (let ty = y + lineH; ty + lineH < y + h; ty += lineH * rng.uniform(1.8, 3)) {
    fillRect(img, x, ty, w * rng.uniform(0.3, 1), lineH, [ink, ink, ink]);
  }
}

/**
 * A synthetic product with straight edges and flat light areas: a box, a sheet of paper, a screen or a
 * labelled package. Clean, yet the closest thing to a pasted rectangle a catalogue holds.
 */
export function hardNegative(width: number, height: number, rng: Rng): RgbaImage {
  const img: RgbaImage = { width, height, data: new Uint8Array(width * height * 4) };
  const light = (lo = 232) => {
    const v = rng.intBetween(lo, 255);
    return [v, v, v];
  };
  const kind = rng.int(4);
  const border = Math.max(1, Math.round(rng.uniform(0.005, 0.03) * Math.min(width, height)));
  if (kind === 0) {
    // A white box with an outline and one shaded side face.
    const edge = rng.intBetween(120, 215);
    fillRect(img, 0, 0, width, height, [edge, edge, edge]);
    fillRect(img, border, border, width - 2 * border, height - 2 * border, light(238));
    const face = rng.uniform(0.15, 0.35) * width;
    const shade = rng.intBetween(200, 240);
    fillRect(img, width - face, border, face - border, height - 2 * border, [shade, shade, shade]);
    if (rng.chance(0.6)) textLines(img, width * 0.1, height * 0.2, (width - face) * 0.7, height * 0.5, rng);
  } else if (kind === 1) {
    // A sheet of paper or a card: near-white, printed.
    fillRect(img, 0, 0, width, height, light(240));
    textLines(img, width * 0.1, height * 0.08, width * 0.8, height * 0.84, rng);
  } else if (kind === 2) {
    // A screen: a dark frame round a light display with interface lines.
    const frame = rng.intBetween(10, 80);
    fillRect(img, 0, 0, width, height, [frame, frame, frame]);
    const inset = Math.max(2, Math.round(rng.uniform(0.04, 0.1) * Math.min(width, height)));
    fillRect(img, inset, inset, width - 2 * inset, height - 2 * inset, light(215));
    textLines(img, inset * 2, inset * 2, width - 4 * inset, height - 4 * inset, rng);
  } else {
    // A coloured package with a white label.
    const colour = [rng.intBetween(20, 230), rng.intBetween(20, 230), rng.intBetween(20, 230)];
    fillRect(img, 0, 0, width, height, colour);
    const lw = rng.uniform(0.35, 0.8) * width;
    const lh = rng.uniform(0.2, 0.5) * height;
    const lx = (width - lw) * rng.uniform(0.2, 0.8);
    const ly = (height - lh) * rng.uniform(0.2, 0.8);
    fillRect(img, lx, ly, lw, lh, light(240));
    textLines(img, lx + lw * 0.1, ly + lh * 0.1, lw * 0.8, lh * 0.8, rng);
  }
  return img;
}

/** A light-coloured version of a product (white mugs, pale clothes): colours pulled towards white. */
function lighten(image: RgbaImage, amount: number): RgbaImage {
  const data = Uint8Array.from(image.data);
  for (let p = 0; p < data.length; p += 4) {
    for (let c = 0; c < 3; c++) data[p + c] = Math.round(255 - (255 - data[p + c]) * amount);
  }
  return { width: image.width, height: image.height, data };
}

/** A blurred ellipse under an object: the contact shadow of studio shots. */
function contactShadow(width: number, rng: Rng): RgbaImage {
  const h = Math.max(4, Math.round(width * rng.uniform(0.06, 0.15)));
  const data = new Uint8Array(width * h * 4);
  const opacity = rng.uniform(0.15, 0.5);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < width; x++) {
      const d = ((x + 0.5) / width - 0.5) ** 2 / 0.25 + ((y + 0.5) / h - 0.5) ** 2 / 0.25;
      if (d < 1) data[(y * width + x) * 4 + 3] = Math.round(255 * opacity * (1 - d));
    }
  }
  return { width, height: h, data };
}

/** The object mirrored under itself, faded: a reflection on a glossy studio floor. */
function reflection(object: RgbaImage, rng: Rng): RgbaImage {
  const h = Math.max(1, Math.round(object.height * rng.uniform(0.2, 0.45)));
  const data = new Uint8Array(object.width * h * 4);
  const strength = rng.uniform(0.1, 0.35);
  for (let y = 0; y < h; y++) {
    const from = (object.height - 1 - y) * object.width * 4;
    for (let x = 0; x < object.width; x++) {
      const p = (y * object.width + x) * 4;
      data.set(object.data.subarray(from + x * 4, from + x * 4 + 3), p);
      data[p + 3] = Math.round(object.data[from + x * 4 + 3] * strength * (1 - y / h));
    }
  }
  return { width: object.width, height: h, data };
}

/** Edges closer than this to upright or level are redrawn: those are what a pasted rectangle makes. */
const MIN_SLANT_DEGREES = 6;

/**
 * The vertices of a convex polygon of 3-6 sides round a w x h box (fractions of w and h), every edge
 * slanted by at least MIN_SLANT_DEGREES in pixels: a sail, a pennant, a board seen at an angle.
 */
export function slantedPolygon(w: number, h: number, rng: Rng): Array<[number, number]> {
  // A very long thin box leaves no room for slanted edges round it; a rhombus is slanted at any aspect
  // up to 1:9 (scenes stay within 1:2.2, where a random polygon passes within a few draws).
  for (let attempt = 0; attempt < 100; attempt++) {
    const sides = rng.intBetween(3, 6);
    const angles = Array.from({ length: sides }, () => rng.uniform(0, 2 * Math.PI)).sort((a, b) => a - b);
    const raw = angles.map((a) => [Math.cos(a), Math.sin(a)] as const);
    const xs = raw.map(([x]) => x);
    const ys = raw.map(([, y]) => y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    if (x1 - x0 < 0.3 || y1 - y0 < 0.3) continue;
    const vertices = raw.map(([x, y]) => [(x - x0) / (x1 - x0), (y - y0) / (y1 - y0)] as [number, number]);
    const slanted = vertices.every(([u0, v0], i) => {
      const [u1, v1] = vertices[(i + 1) % sides];
      const degrees = (Math.atan2(Math.abs((v1 - v0) * h), Math.abs((u1 - u0) * w)) * 180) / Math.PI;
      return degrees >= MIN_SLANT_DEGREES && degrees <= 90 - MIN_SLANT_DEGREES;
    });
    if (slanted) return vertices;
  }
  return [
    [0.5, 0],
    [1, 0.5],
    [0.5, 1],
    [0, 0.5],
  ];
}

/** A flat colour with a soft light fall-off across it: a sail, a painted board, a plastic sign. */
function shadedColour(w: number, h: number, rng: Rng): RgbaImage {
  const image = solidRgba(w, h, 0);
  const rgb = [rng.intBetween(20, 250), rng.intBetween(20, 250), rng.intBetween(20, 250)];
  const fall = rng.uniform(0.75, 1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = 1 - (1 - fall) * ((x / w + y / h) / 2);
      const p = (y * w + x) * 4;
      for (let c = 0; c < 3; c++) image.data[p + c] = Math.round(rgb[c] * t);
    }
  }
  return image;
}

/**
 * A piece of a photo inside a random outline, its longest side `longest` px: rounded (see blobOutline)
 * or, with `slanted`, a convex polygon with slanted edges (see polygonOutline), filled with the photo or
 * a flat colour.
 */
async function photoObject(photo: RgbaImage, longest: number, rng: Rng, slanted = false): Promise<RgbaImage> {
  const short = Math.min(photo.width, photo.height);
  const crop = Math.max(2, Math.round(short * rng.uniform(0.3, 1)));
  const piece = cropRgba(photo, rng.int(photo.width - crop + 1), rng.int(photo.height - crop + 1), crop, crop);
  const aspect = rng.uniform(0.45, 1);
  const tall = rng.chance(0.5);
  const w = Math.max(4, Math.round(tall ? longest * aspect : longest));
  const h = Math.max(4, Math.round(tall ? longest : longest * aspect));
  if (slanted) {
    const texture = rng.chance(0.35) ? shadedColour(w, h, rng) : await resizeRgba(piece, w, h);
    return polygonOutline(texture, slantedPolygon(w, h, rng));
  }
  const harmonics = Array.from(
    { length: rng.intBetween(1, 4) },
    () => [rng.intBetween(2, 6), rng.uniform(0, 0.07), rng.uniform(0, 2 * Math.PI)] as const,
  );
  return blobOutline(await resizeRgba(piece, w, h), harmonics);
}

const UPRIGHT = { mirror: false, tilt: 0, stretch: 1, hue: 0, saturation: 1, brightness: 1 } as const;

/**
 * One product scene: one to three objects filling 10-95% of a canvas of 256-448 px, on pure white or
 * another studio background, with drop or contact shadows and reflections. A fifth of the objects are
 * synthetic straight-edged products (a third of them tilted); with `pickPhoto`, three in ten of the rest
 * are pieces of photos in random outlines, rounded or slanted polygons (generator version 5); the others
 * are real cut-outs, mirrored, tilted, stretched and recoloured at random.
 */
export async function productScene(
  pickCutout: () => Promise<RgbaImage>,
  rng: Rng,
  pickPhoto?: () => Promise<RgbaImage>,
  ownBackdrop = false,
): Promise<RgbaImage> {
  const side = rng.intBetween(SCENE_SIDE.min, SCENE_SIDE.max);
  const width = rng.chance(0.7) ? side : Math.round(side * rng.uniform(0.75, 1.33));
  const height = side;
  const count = rng.chance(0.7) ? 1 : rng.chance(0.65) ? 2 : 3;
  const layers: Layer[] = [];
  for (let k = 0; k < count; k++) {
    const fill = count === 1 ? rng.uniform(0.1, 0.95) : rng.uniform(0.12, 0.55);
    let object: RgbaImage;
    // Drawn in this order (synthetic first, then photo piece) so a seed gives the same scenes.
    const synthetic = rng.chance(0.2);
    if (synthetic) {
      const longest = fill * Math.min(width, height);
      const aspect = rng.uniform(0.4, 1);
      const tall = rng.chance(0.5);
      object = hardNegative(
        Math.max(4, Math.round(tall ? longest * aspect : longest)),
        Math.max(4, Math.round(tall ? longest : longest * aspect)),
        rng,
      );
      // A box or a sheet at an angle: straight edges that are not upright.
      const tilt = rng.chance(0.35) ? (rng.chance(0.5) ? 1 : -1) * rng.uniform(MIN_SLANT_DEGREES, 40) : 0;
      if (tilt !== 0) object = await varyCutout(object, { ...UPRIGHT, tilt });
    } else if (pickPhoto != null && rng.chance(0.3) /* a photo piece */) {
      object = await photoObject(await pickPhoto(), fill * Math.min(width, height), rng, rng.chance(0.5));
    } else {
      const cutout = await pickCutout();
      const scale = (fill * Math.min(width, height)) / Math.max(cutout.width, cutout.height);
      object = await resizeRgba(
        cutout,
        Math.max(2, Math.round(cutout.width * scale)),
        Math.max(2, Math.round(cutout.height * scale)),
      );
      object = await varyCutout(object, {
        mirror: rng.chance(0.5),
        tilt: rng.chance(0.3) ? rng.uniform(-25, 25) : 0,
        stretch: rng.chance(0.3) ? rng.uniform(0.8, 1.25) : 1,
        hue: 0,
        saturation: 1,
        brightness: 1,
        ...(rng.chance(0.4)
          ? { hue: rng.uniform(0, 360), saturation: rng.uniform(0.5, 1.5), brightness: rng.uniform(0.8, 1.15) }
          : {}),
      });
      if (rng.chance(0.25)) object = lighten(object, rng.uniform(0.08, 0.45));
    }
    const cx = count === 1 ? 0.5 + rng.uniform(-0.08, 0.08) : rng.uniform(0.2, 0.8);
    const cy = count === 1 ? 0.5 + rng.uniform(-0.08, 0.08) : rng.uniform(0.2, 0.8);
    const left = cx * width - object.width / 2;
    const top = cy * height - object.height / 2;
    const shadow = rng.float();
    if (shadow < 0.3) {
      const sigma = rng.uniform(2, 8);
      const s = await softShadow(object, sigma, rng.uniform(0.12, 0.45));
      const pad = (s.width - object.width) / 2;
      layers.push({ image: s, left: left - pad + rng.uniform(-6, 10), top: top - pad + rng.uniform(2, 10) });
    } else if (shadow < 0.55) {
      const c = contactShadow(Math.round(object.width * rng.uniform(0.8, 1.2)), rng);
      layers.push({ image: c, left: left + (object.width - c.width) / 2, top: top + object.height - c.height / 2 });
    } else if (shadow < 0.65) {
      layers.push({ image: reflection(object, rng), left, top: top + object.height });
    }
    layers.push({ image: object, left, top });
  }
  return compose(width, height, 255, [{ image: studioBackground(width, height, rng, ownBackdrop), left: 0, top: 0 }, ...layers]);
}

/** The part of a photo its own frame keeps: 60-100% of each side, so objects may be cut off at its border. */
function cropFrame(image: RgbaImage, rng: Rng): RgbaImage {
  const w = Math.max(8, Math.round(image.width * rng.uniform(0.6, 1)));
  const h = Math.max(8, Math.round(image.height * rng.uniform(0.6, 1)));
  return cropRgba(image, rng.int(image.width - w + 1), rng.int(image.height - h + 1), w, h);
}

/**
 * A photo with its own backdrop placed on a larger white canvas, as sellers pad a shot to a marketplace's
 * square or size: margins on all four sides, or bars on two (the photo touching the other two edges).
 * The long straight edge between the photo and the margin, and objects the photo's frame cut off at it,
 * are clean; a white rectangle on the photo's backdrop is damage.
 */
export async function paddedOnWhite(photo: RgbaImage, rng: Rng): Promise<RgbaImage> {
  const inner = cropFrame(photo, rng);
  const canvasSide = rng.intBetween(SCENE_SIDE.min, SCENE_SIDE.max);
  const background = rng.chance(0.85) ? 255 : rng.intBetween(250, 254);
  let width: number;
  let height: number;
  let w: number;
  let h: number;
  if (rng.chance(0.5)) {
    // Margins on all sides: the photo fills 55-92% of the canvas along its longer side.
    width = rng.chance(0.7) ? canvasSide : Math.round(canvasSide * rng.uniform(0.75, 1.33));
    height = canvasSide;
    const k = (rng.uniform(0.55, 0.92) * Math.min(width, height)) / Math.max(inner.width, inner.height);
    w = Math.max(4, Math.round(inner.width * k));
    h = Math.max(4, Math.round(inner.height * k));
  } else {
    // Bars on two sides: the photo spans the canvas one way at an aspect of 1.2-2 along its longer side
    // (resized to it, so a squarish photo is stretched: what the model sees is the straight edge and the bars).
    const aspect = rng.uniform(1.2, 2);
    const wide = inner.width >= inner.height;
    w = wide ? canvasSide : Math.round(canvasSide / aspect);
    h = wide ? Math.round(canvasSide / aspect) : canvasSide;
    width = height = canvasSide;
  }
  const left = Math.round((width - w) * rng.uniform(0.3, 0.7));
  const top = Math.round((height - h) * rng.uniform(0.3, 0.7));
  const resized = await resizeRgba(inner, w, h);
  return compose(width, height, background, [{ image: resized, left, top }]);
}

/** Two to four views of products in a grid on white, with gaps between them: a collage of one listing. */
export async function collage(views: RgbaImage[], rng: Rng): Promise<RgbaImage> {
  const side = rng.intBetween(SCENE_SIDE.min, SCENE_SIDE.max);
  const columns = views.length === 2 ? (rng.chance(0.5) ? 2 : 1) : 2;
  const rows = Math.ceil(views.length / columns);
  const gap = Math.round(side * rng.uniform(0, 0.05));
  const cellW = Math.floor((side - gap * (columns + 1)) / columns);
  const cellH = Math.floor((side - gap * (rows + 1)) / rows);
  const layers = await Promise.all(
    views.map(async (view, i) => {
      const k = Math.min(cellW / view.width, cellH / view.height);
      const w = Math.max(4, Math.round(view.width * k));
      const h = Math.max(4, Math.round(view.height * k));
      const cx = gap + (i % columns) * (cellW + gap) + (cellW - w) / 2;
      const cy = gap + Math.floor(i / columns) * (cellH + gap) + (cellH - h) / 2;
      return { image: await resizeRgba(view, w, h), left: cx, top: cy };
    }),
  );
  return compose(side, side, 255, layers);
}

/** Shares of the layouts a product upload takes (generator version 7); the rest are productScene's. */
export const LAYOUT_SHARES = { paddedProduct: 0.2, paddedPhoto: 0.08, collage: 0.08 } as const;

/**
 * One product upload in one of the layouts catalogues hold: a product scene on white; a product shot on
 * its own backdrop, or a natural photo, padded onto white (paddedOnWhite); or a collage of views.
 */
export async function productUpload(
  pickCutout: () => Promise<RgbaImage>,
  rng: Rng,
  pickPhoto?: () => Promise<RgbaImage>,
): Promise<RgbaImage> {
  const layout = rng.float();
  const { paddedProduct, paddedPhoto, collage: collageShare } = LAYOUT_SHARES;
  if (layout < paddedProduct) return paddedOnWhite(await productScene(pickCutout, rng, pickPhoto, true), rng);
  if (layout < paddedProduct + paddedPhoto && pickPhoto != null)
    return paddedOnWhite(await uploadedPhoto(await pickPhoto(), rng), rng);
  if (layout < paddedProduct + paddedPhoto + collageShare) {
    const count = rng.intBetween(2, 4);
    const views: RgbaImage[] = [];
    for (let i = 0; i < count; i++) views.push(await productScene(pickCutout, rng, pickPhoto));
    return collage(views, rng);
  }
  return productScene(pickCutout, rng, pickPhoto);
}

/**
 * A natural photo as uploaded: a crop of 40-100% of the shorter side at 256-448 px, and in three
 * photos out of ten over-exposed (gain 1.3-2.5, clipped), so skies, windows and highlights burn out to
 * pure white as they do in real photos.
 */
export async function uploadedPhoto(photo: RgbaImage, rng: Rng): Promise<RgbaImage> {
  const short = Math.min(photo.width, photo.height);
  const crop = Math.max(1, Math.round(short * rng.uniform(0.4, 1)));
  const left = rng.int(photo.width - crop + 1);
  const top = rng.int(photo.height - crop + 1);
  const side = Math.min(crop, rng.intBetween(SCENE_SIDE.min, SCENE_SIDE.max));
  const image = await resizeRgba(cropRgba(photo, left, top, crop, crop), side, side);
  if (!rng.chance(0.3)) return image;
  const gain = rng.uniform(1.3, 2.5);
  const data = image.data;
  for (let p = 0; p < data.length; p += 4) {
    for (let c = 0; c < 3; c++) data[p + c] = Math.min(255, Math.round(data[p + c] * gain));
  }
  return image;
}
