import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INPUT_SIZE, framedInputs, photoBoxToInput, preprocess, preprocessFramed, type RgbaImage } from './index.js';
import { FRAME_GRID, areaAverage, findFrame, findFrames, frameToInput, inputBoxToPhoto, rgbaCells } from './framing.js';
import { resultBox } from './heatmap.js';

/** A canvas of one grey level with dark rectangles drawn on it. */
function canvas(width: number, height: number, level: number, rects: [number, number, number, number, number][] = []): RgbaImage {
  const data = new Uint8Array(width * height * 4).fill(255);
  for (let p = 0; p < data.length; p += 4) data[p] = data[p + 1] = data[p + 2] = level;
  for (const [x0, y0, w, h, v] of rects) {
    for (let y = y0; y < y0 + h; y++)
      for (let x = x0; x < x0 + w; x++) {
        const p = (y * width + x) * 4;
        data[p] = data[p + 1] = data[p + 2] = v;
      }
  }
  return { width, height, data };
}

const gridOf = (img: RgbaImage) =>
  areaAverage(rgbaCells(img), { x: 0, y: 0, width: img.width, height: img.height }, FRAME_GRID, FRAME_GRID);
const frameOfImage = (img: RgbaImage) => findFrame(gridOf(img), img.width, img.height);
const framesOfImage = (img: RgbaImage) => findFrames(gridOf(img), img.width, img.height);

describe('areaAverage', () => {
  it('over the whole photo is preprocess', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 150 }), fc.integer(), (w, h, seed) => {
        const data = new Uint8Array(w * h * 4);
        let s = seed;
        for (let i = 0; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) & 0x7fffffff) & 255;
        const img = { width: w, height: h, data };
        const got = areaAverage(rgbaCells(img), { x: 0, y: 0, width: w, height: h }, INPUT_SIZE, INPUT_SIZE);
        const want = preprocess(img);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(worst).toBeLessThan(1e-5);
      }),
      { numRuns: 30 },
    );
  }, 30_000);

  it('fills what lies beyond the photo with the fill level, in exact shares', () => {
    const black = canvas(100, 100, 0);
    // The right half of the rectangle lies past the photo: columns 32.. are the fill, 0..31 black.
    const out = areaAverage(rgbaCells(black), { x: 50, y: 0, width: 100, height: 100 }, INPUT_SIZE, INPUT_SIZE, 0.8);
    expect(out[10 * 64 + 10]).toBeCloseTo(0, 6);
    expect(out[10 * 64 + 50]).toBeCloseTo(0.8, 6);
  });
});

describe('findFrame', () => {
  it('frames a product on pure white: a square around it with a margin, centred on it', () => {
    const img = canvas(1200, 1000, 255, [[500, 400, 200, 300, 40]]);
    const f = frameOfImage(img)!;
    expect(f).not.toBeNull();
    expect(f.background).toBeCloseTo(1, 3);
    // The content's larger side (300, to a grid cell of ~9 px) grown by a quarter.
    expect(f.side).toBeGreaterThanOrEqual(375);
    expect(f.side).toBeLessThanOrEqual(400);
    expect(f.x + f.side / 2).toBeCloseTo(600, -1);
    expect(f.y + f.side / 2).toBeCloseTo(550, -1);
  });

  it('frames on near-white backgrounds too, and finds faint products', () => {
    expect(frameOfImage(canvas(800, 800, 248, [[300, 300, 100, 100, 200]]))).not.toBeNull();
  });

  it('takes the whole photo where there is no plain light background, nothing on it, or content filling it', () => {
    expect(frameOfImage(canvas(800, 800, 200, [[300, 300, 100, 100, 20]]))).toBeNull(); // light grey studio
    expect(frameOfImage(canvas(800, 800, 255))).toBeNull(); // blank
    expect(frameOfImage(canvas(800, 800, 255, [[20, 20, 760, 760, 30]]))).toBeNull(); // fills it
    // A photo: the top half dark (a border that is not plain), a white sky below.
    expect(frameOfImage(canvas(800, 800, 255, [[0, 0, 800, 400, 60]]))).toBeNull();
  });

  it('never frames tighter than 30% of the longer side', () => {
    const f = frameOfImage(canvas(1000, 1000, 255, [[495, 495, 10, 10, 0]]))!;
    expect(f.side).toBe(300);
  });
});

describe('findFrames', () => {
  it('gives two objects apart on white each its own frame, by the one-object rule, largest first', () => {
    const img = canvas(2000, 1500, 255, [
      [300, 400, 400, 500, 40],
      [1300, 600, 200, 300, 90],
    ]);
    const { frame, objects } = framesOfImage(img);
    expect(frame).toEqual(frameOfImage(img));
    expect(objects).toHaveLength(2);
    // Each as if it stood alone on the canvas.
    expect(objects[0]).toEqual(frameOfImage(canvas(2000, 1500, 255, [[300, 400, 400, 500, 40]])));
    expect(objects[1]).toEqual(frameOfImage(canvas(2000, 1500, 255, [[1300, 600, 200, 300, 90]])));
    // Each frame is smaller than the whole content's: the object fills more of the input.
    for (const o of objects) expect(o.side).toBeLessThan(frame!.side);
  });

  it('looks at objects only inside a frame: content spanning the photo is taken whole, as before', () => {
    const wide = framesOfImage(
      canvas(1600, 1200, 255, [
        [100, 300, 400, 500, 40],
        [1200, 500, 200, 300, 90],
      ]),
    );
    expect(wide).toEqual({ frame: null, objects: [] });
  });

  it('keeps one object whole: one thing, things that nearly touch, specks beside it, or more than three things', () => {
    const whole: [string, RgbaImage][] = [
      ['one thing', canvas(1200, 1200, 255, [[400, 400, 300, 300, 40]])],
      // 40 px apart (4 grid cells of ~9 px): one object, as a mug and its handle.
      [
        'two parts close together',
        canvas(1200, 1200, 255, [
          [300, 400, 300, 300, 40],
          [640, 450, 200, 200, 40],
        ]),
      ],
      // A dust spot far off (under 20 grid cells) is not a second object.
      [
        'a speck beside it',
        canvas(1200, 1200, 255, [
          [300, 400, 300, 300, 40],
          [1000, 1000, 20, 20, 40],
        ]),
      ],
    ];
    for (const [what, img] of whole) expect(framesOfImage(img).objects, what).toEqual([]);
    const four = canvas(2400, 2400, 255, [
      [400, 400, 300, 300, 40],
      [1400, 400, 300, 300, 40],
      [400, 1400, 300, 300, 40],
      [1400, 1400, 300, 300, 40],
    ]);
    expect(framesOfImage(four).frame).not.toBeNull();
    expect(framesOfImage(four).objects).toEqual([]);
  });

  it('framedInputs makes each object input as frameToInput does, and training takes only the whole frame', () => {
    const img = canvas(2000, 1500, 255, [
      [300, 400, 400, 500, 40],
      [1300, 600, 200, 300, 90],
    ]);
    const looks = framedInputs(img, 'content', 128);
    expect(looks.objects).toHaveLength(2);
    for (const o of looks.objects) expect(o.input).toEqual(frameToInput(rgbaCells(img), o.frame, 128));
    expect(looks.input).toEqual(preprocessFramed(img, 'content', 128).input);
    expect(framedInputs(img, 'content', 128, false).objects).toEqual([]);
    expect(framedInputs(img, 'full', 128).objects).toEqual([]);
    // The closer look at 256 takes the frames the first look found on the same pixels: the same inputs as
    // finding them again, and those frames are used as given.
    const found = { frame: looks.frame, objects: looks.objects.map((o) => o.frame) };
    expect(framedInputs(img, 'content', 256, true, found)).toEqual(framedInputs(img, 'content', 256));
    const other = { frame: looks.objects[1].frame, objects: [] };
    expect(framedInputs(img, 'content', 256, true, other).input).toEqual(frameToInput(rgbaCells(img), other.frame, 256));
  });
});

describe('preprocessFramed', () => {
  it('is preprocess under full framing and where nothing can be framed', () => {
    const photo = canvas(300, 200, 90, [[10, 10, 50, 50, 250]]);
    expect(preprocessFramed(photo, 'full').input).toEqual(preprocess(photo));
    const framed = preprocessFramed(photo, 'content');
    expect(framed.frame).toBeNull();
    expect(framed.input).toEqual(preprocess(photo));
  });

  it('shows the product larger, and a rectangle cut from it stays white and straight in the input', () => {
    const product = canvas(1200, 1200, 255, [[500, 500, 200, 200, 0]]);
    // Damage: the product's top-left quarter erased.
    const damaged = canvas(1200, 1200, 255, [
      [600, 500, 100, 200, 0],
      [500, 600, 100, 100, 0],
    ]);
    const full = preprocess(product);
    const { input, frame } = preprocessFramed(damaged, 'content');
    expect(frame).not.toBeNull();
    const dark = (a: Float32Array) => a.filter((v) => v < 0.5).length;
    // Full frame: 200/1200 of 64 = ~10.7 px a side; framed at the smallest frame (30% of 1200 = 360
    // px), 200/360 of 64 = ~35.6 px a side, three quarters of it left dark.
    expect(dark(full)).toBeLessThan(150);
    expect(dark(input)).toBeGreaterThan(900);
    // The erased quarter is white in the input: the photo's (550, 550) is inside it.
    const ix = Math.floor(((550 - frame!.x) / frame!.side) * INPUT_SIZE);
    const iy = Math.floor(((550 - frame!.y) / frame!.side) * INPUT_SIZE);
    expect(input[iy * INPUT_SIZE + ix]).toBeCloseTo(1, 5);
  });

  it('frameToInput fills past the photo with its background', () => {
    const img = canvas(1000, 1000, 250, [[0, 400, 150, 200, 0]]);
    const frame = frameOfImage(img)!;
    expect(frame.x).toBeLessThan(0);
    const input = frameToInput(rgbaCells(img), frame);
    expect(input[32 * INPUT_SIZE]).toBeCloseTo(250 / 255, 4);
  });
});

describe('boxes through a frame', () => {
  it('photo -> input -> photo is the same box', () => {
    const frame = { x: -40, y: 100, side: 640, background: 1 };
    const box = { x: 200, y: 300, width: 120, height: 80 };
    const input = photoBoxToInput(box, frame, 1000, 800)!;
    const back = inputBoxToPhoto(input, frame, 1000, 800);
    expect(back.x).toBeCloseTo(200, 6);
    expect(back.y).toBeCloseTo(300, 6);
    expect(back.width).toBeCloseTo(120, 6);
    expect(back.height).toBeCloseTo(80, 6);
    // Outside the frame: no box in the input.
    expect(photoBoxToInput({ x: 900, y: 0, width: 50, height: 50 }, frame, 1000, 800)).toBeNull();
  });

  it("resultBox reads the box in the photo's pixels through the frame", () => {
    // A 16x16 white square at input (16,16) on black, and a heatmap marking it.
    const input = new Float32Array(64 * 64);
    for (let y = 16; y < 32; y++) input.fill(1, y * 64 + 16, y * 64 + 32);
    const scores = new Float32Array(16 * 16);
    for (let y = 4; y < 8; y++) scores.fill(1, y * 16 + 4, y * 16 + 8);
    const frame = { x: 100, y: 200, side: 640, background: 1 };
    const box = resultBox({ width: 16, height: 16, data: scores }, input, true, 2000, 1500, frame)!;
    expect(box).toEqual({ x: 260, y: 360, width: 160, height: 160 });
  });
});
