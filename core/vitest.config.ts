import { defineConfig } from 'vitest/config';

// Some core tests decode and frame many photos: on a busy two-core machine they pass vitest's default of 5 s.
export default defineConfig({
  test: { testTimeout: 60_000 },
});
