import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'oci',
    include: ['test/**/*.test.ts'],
    // The registry tests start real processes (docker-registry, skopeo, mke2fs); give them room on 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
