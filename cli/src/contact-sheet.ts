/** The HTML contact sheet of flagged photos: a thumbnail each (box drawn when the model localises), worst first. */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { CheckedFile } from './catalogue.js';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function thumbnail(path: string): Promise<string> {
  try {
    const jpeg = await sharp(path, { limitInputPixels: 64_000_000 })
      .rotate()
      .resize(240, 240, { fit: 'inside' })
      .jpeg({ quality: 75 })
      .toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch {
    return '';
  }
}

export async function writeContactSheet(file: string, results: CheckedFile[], total: number): Promise<void> {
  const flagged = results.filter((r) => r.flagged).sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  const cards: string[] = [];
  for (const r of flagged) {
    const src = await thumbnail(r.path);
    const box =
      r.box && r.image
        ? `<div class="box" style="left:${(100 * r.box.x) / r.image.width}%;top:${(100 * r.box.y) / r.image.height}%;width:${(100 * r.box.width) / r.image.width}%;height:${(100 * r.box.height) / r.image.height}%"></div>`
        : '';
    cards.push(
      `<figure><div class="thumb"><img src="${src}" alt="${escape(r.path)}" loading="lazy">${box}</div>` +
        `<figcaption><strong>${(r.score ?? 0).toFixed(3)}</strong> <span title="${escape(r.path)}">${escape(r.path.split('/').pop() ?? r.path)}</span></figcaption></figure>`,
    );
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>blankspot: ${flagged.length} flagged of ${total}</title>
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 1.5rem; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 1rem; }
figure { margin: 0; } .thumb { position: relative; display: inline-block; line-height: 0; }
img { max-width: 100%; border-radius: .25rem; } .box { position: absolute; border: 2px solid #e00; box-sizing: border-box; }
figcaption { font-size: .85rem; overflow-wrap: anywhere; margin-top: .25rem; }
</style></head>
<body><h1>${flagged.length} of ${total} photos flagged</h1><p>Sorted by score, highest first. Model: ${escape(flagged[0]?.model?.name ?? 'n/a')} ${escape(flagged[0]?.model?.version ?? '')}.</p>
<main>
${cards.join('\n')}
</main></body></html>
`;
  await writeFile(file, html);
}
