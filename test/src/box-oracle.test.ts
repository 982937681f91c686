/**
 * test/uploads/box_oracle.py on photos whose answer is known: a grey block on pure white, cut by a
 * white rectangle in three ways. Where all four of the rectangle's sides run over the block, the box is
 * there to read; where two lie on the white, it is a guess; where three do, a worse one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleBoxes, type OracleBox } from './uploads.js';

const SIDE = 1000;
type Rect = { x: number; y: number; w: number; h: number };

/** A 1000x1000 JPEG: pure white, grey blocks, a white rectangle pasted over them. */
async function photo(blocks: Rect[], cut: Rect): Promise<Buffer> {
  const pixels = Buffer.alloc(SIDE * SIDE, 255);
  const fill = (r: Rect, v: number) => {
    for (let y = r.y; y < r.y + r.h; y++) pixels.fill(v, y * SIDE + r.x, y * SIDE + r.x + r.w);
  };
  for (const block of blocks) fill(block, 90);
  fill(cut, 255);
  return sharp(pixels, { raw: { width: SIDE, height: SIDE, channels: 1 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

const BLOCK = { x: 300, y: 300, w: 400, h: 400 };
const CASES: Record<string, { blocks: Rect[]; cut: Rect; sides: number }> = {
  // Inside the block: all four sides show.
  hole: { blocks: [BLOCK], cut: { x: 400, y: 400, w: 200, h: 200 }, sides: 4 },
  // Over the block's corner: its top and left sides show, the other two are on the white.
  corner: { blocks: [BLOCK], cut: { x: 600, y: 600, w: 200, h: 200 }, sides: 2 },
  // The same, with a second block 20 px right of the rectangle: it cannot have reached past it.
  cornerBesideBlock: {
    blocks: [BLOCK, { x: 820, y: 500, w: 150, h: 400 }],
    cut: { x: 600, y: 600, w: 200, h: 200 },
    sides: 2,
  },
  // Over the whole lower end of a narrow block: only its top side shows.
  slice: { blocks: [{ x: 400, y: 300, w: 200, h: 400 }], cut: { x: 375, y: 600, w: 250, h: 200 }, sides: 1 },
};

let dir: string;
let oracle: Map<string, OracleBox>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blankspot-oracle-'));
  const rows = ['file,kind,damaged,x,y,width,height,source,covered,cut,sides'];
  for (const [name, c] of Object.entries(CASES)) {
    await writeFile(join(dir, `${name}.jpg`), await photo(c.blocks, c.cut));
    rows.push(`${name}.jpg,product,1,${c.cut.x},${c.cut.y},${c.cut.w},${c.cut.h},block,,,${c.sides}`);
  }
  await writeFile(join(dir, 'labels.csv'), rows.join('\n') + '\n');
  oracle = await oracleBoxes(dir);
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chance = (file: string) => oracle.get(file)!.chance;

describe('the oracle box reader', () => {
  it('is certain where every side of the rectangle shows, and right', () => {
    expect(chance('hole.jpg')).toBe(1);
    expect(oracle.get('hole.jpg')!.fits).toBe(true);
  });

  it('is a guess where sides lie on the white', () => {
    // Two unseen sides, each anywhere in 15-30% of the photo: some sizes of guess fit more of the
    // could-have-been rectangles than others, none fits them all.
    const corner = chance('corner.jpg');
    expect(corner).toBeGreaterThan(0.3);
    expect(corner).toBeLessThan(0.9);
    // Three unseen sides, but the rectangle must span the block's end it sliced off.
    expect(chance('slice.jpg')).toBeGreaterThan(0.3);
    expect(chance('slice.jpg')).toBeLessThan(0.9);
  });

  it('counts only rectangles that could have made the picture: none hides what still shows', () => {
    expect(chance('cornerBesideBlock.jpg')).toBeGreaterThan(chance('corner.jpg') + 0.1);
  });
});
