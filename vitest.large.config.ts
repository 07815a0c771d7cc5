import { defineConfig } from 'vitest/config';

/**
 * `npm run test:large`: Dispatch as `npm start` runs it over databases the size a busy week makes
 * (test/large/: 100,000 waiting deliveries, hundreds of MB of temporary disk, a minute or more).
 * Kept out of `npm test`; test/e2e/flood-backlog.test.ts runs the same scenario small there.
 */
export default defineConfig({
  test: {
    include: ['test/large/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
