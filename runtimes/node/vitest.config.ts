import { defineConfig } from 'vitest/config';

// Loading ONNX Runtime and starting the reader threads can pass vitest's default 5 s on a busy two-core machine.
export default defineConfig({
  test: { testTimeout: 60_000 },
});
