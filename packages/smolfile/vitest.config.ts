import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'smolfile',
    include: ['test/**/*.test.ts'],
  },
});
