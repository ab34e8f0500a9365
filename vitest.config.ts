import { defineConfig } from 'vitest/config';

// Kernel and Docker tests share the machine's namespaces and cores: run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The long churn runs only through `npm run test:soak` (it would blow the CI budget).
    exclude: ['test/soak/**', 'node_modules/**'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
