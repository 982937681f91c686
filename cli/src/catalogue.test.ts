import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkViaApi, collectFiles, type CheckedFile } from './catalogue.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blankspot-catalogue-'));
  await mkdir(join(dir, 'shop', 'nested'), { recursive: true });
  for (const name of ['a.jpg', 'b.JPEG', 'c.png', 'd.webp', 'e.jfif', 'nested/f.jpg'])
    await writeFile(join(dir, 'shop', name), 'x');
  for (const name of ['notes.txt', 'nested/anim.gif', '.DS_Store']) await writeFile(join(dir, 'shop', name), 'x');
  await writeFile(join(dir, 'empty.jpg'), '');
  await writeFile(join(dir, 'list.txt'), `# a comment\n\n${join(dir, 'shop', 'a.jpg')}\n${join(dir, 'missing.png')}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('collectFiles', () => {
  it('finds photos by name in folders, recursively, once each; every other file gets its reason', async () => {
    const { files, unreadable } = await collectFiles([join(dir, 'shop')], [join(dir, 'list.txt')]);
    const shop = (name: string) => resolve(dir, 'shop', name);
    expect([...files].sort()).toEqual(
      [
        shop('a.jpg'),
        shop('b.JPEG'),
        shop('c.png'),
        shop('d.webp'),
        shop('e.jfif'),
        shop('nested/f.jpg'),
        resolve(dir, 'missing.png'),
      ].sort(),
    );
    expect(unreadable.map((r) => r.path).sort()).toEqual([shop('.DS_Store'), shop('nested/anim.gif'), shop('notes.txt')].sort());
    for (const r of unreadable) expect(r.error?.code, r.path).toBe('NOT_A_PHOTO');
  });

  it('refuses a list file it cannot read', async () => {
    await expect(collectFiles([], [join(dir, 'no-list.txt')])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('checkViaApi', () => {
  it('answers an empty or missing file without asking the API', async () => {
    const results: CheckedFile[] = [];
    // Nothing listens there: a request would come back as a NETWORK error.
    await checkViaApi([join(dir, 'empty.jpg'), join(dir, 'missing.png')], {
      url: 'http://127.0.0.1:9',
      concurrency: 2,
      retries: 0,
      onResult: (r) => results.push(r),
    });
    const byPath = new Map(results.map((r) => [r.path, r.error?.code]));
    expect(byPath.get(join(dir, 'empty.jpg'))).toBe('EMPTY_FILE');
    expect(byPath.get(join(dir, 'missing.png'))).toBe('UNREADABLE_FILE');
  });

  it('retries a refused connection as many times as asked, then reports it', async () => {
    const results: CheckedFile[] = [];
    const waits: number[] = [];
    const { retried } = await checkViaApi([join(dir, 'shop', 'a.jpg')], {
      url: 'http://127.0.0.1:9',
      concurrency: 1,
      retries: 3,
      sleep: async (ms) => void waits.push(ms),
      onResult: (r) => results.push(r),
    });
    expect(retried).toBe(3);
    expect(waits).toHaveLength(3);
    // Exponential backoff with jitter: each wait within [0.5, 1.5) of 200 ms doubled per attempt.
    waits.forEach((ms, attempt) => {
      expect(ms).toBeGreaterThanOrEqual(100 * 2 ** attempt);
      expect(ms).toBeLessThan(300 * 2 ** attempt);
    });
    expect(results).toEqual([{ path: join(dir, 'shop', 'a.jpg'), error: { code: 'NETWORK', message: expect.any(String) } }]);
  });
});
