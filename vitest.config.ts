import { defineConfig } from 'vitest/config';

// Kernel and Docker tests share the machine's namespaces and cores: run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
