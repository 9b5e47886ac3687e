import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'krun',
    include: ['test/**/*.test.ts'],
    // Compiles the stand-in libkrun variants with cc and builds dist/ (the runner is spawned from it).
    globalSetup: ['test/global-setup.ts'],
    // Native code in the tests: one process per file, never worker threads.
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
