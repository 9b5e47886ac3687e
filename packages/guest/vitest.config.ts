import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'guest',
    include: ['test/**/*.test.ts'],
  },
});
