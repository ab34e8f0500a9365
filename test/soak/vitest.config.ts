// `npm run test:soak`: the long churn, kept out of `npm test` (CI budget). Run from the repo root.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../../', import.meta.url).pathname,
    include: ['test/soak/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 25 * 60_000,
    hookTimeout: 5 * 60_000,
    reporters: ['default'],
  },
});
