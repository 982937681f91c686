import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeBenchSection } from '../bench/bench-docs.js';

describe('writeBenchSection', () => {
  it("adds a bench's section once, replaces only it on the next run, and keeps the rest of the page", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'blankspot-bench-docs-'));
    try {
      const file = join(dir, 'benchmarks.md');
      await writeFile(file, '# Benchmarks\n\nHow to read these.\n');
      await writeBenchSection('api', 'The API', ['| a |', '| 1 |'], file);
      await writeBenchSection('web', 'The widget', ['| w |'], file);
      await writeBenchSection('api', 'The API', ['| a |', '| 2 |'], file);
      const page = await readFile(file, 'utf8');
      expect(page.startsWith('# Benchmarks\n\nHow to read these.\n')).toBe(true);
      expect(page.match(/<!-- bench:api:start -->/g)).toHaveLength(1);
      expect(page).toContain('| 2 |');
      expect(page).not.toContain('| 1 |');
      expect(page).toContain('| w |');
      expect(page.indexOf('bench:api:start')).toBeLessThan(page.indexOf('bench:web:start'));
      expect(page).toMatch(/Measured \d{4}-\d{2}-\d{2} on \d+ cores \(.+\), \d+ GiB, Node \d+\.\d+\.\d+\./);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
