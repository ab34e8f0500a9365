import { defineConfig } from 'vitest/config';

// `npm run test:unit`: every suite that needs no root, no kernel and no dockerd, so a newcomer
// can run it on any machine in seconds. What is left out needs root: it makes network
// namespaces, writes real iptables/nft rules or starts dockerd (`npm test` runs everything).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // As in vitest.config.ts: the fuzz suites run thousands of cases, slow on a busy machine.
    testTimeout: 60_000,
    exclude: [
      'node_modules/**',
      'test/e2e/**',
      'test/soak/**',
      // Real kernels in namespaces, except the dataplane suites that run only harmless commands.
      'test/dataplane/!(families|notify|command-queue|command-name|command-error|bridge-ports).test.ts',
      'test/hostfw/footprint.test.ts',
      'test/cli/doctor.test.ts',
      'test/cli/install.test.ts',
    ],
  },
});
