import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'krun',
    include: ['test/**/*.test.ts'],
  },
});
