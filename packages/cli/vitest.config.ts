import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    // Every test spawns CLI processes (about 0.3 s each on a quiet machine, several times that when
    // another test run shares the 2 cores): vitest's 5 s default failed a six-command test in CI.
    testTimeout: 30_000,
  },
});
