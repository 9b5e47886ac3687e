import { defineConfig } from 'vitest/config';

// One project per package (each package's vitest.config.ts names its tiers).
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts'],
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
