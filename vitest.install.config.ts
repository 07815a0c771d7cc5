import { defineConfig } from 'vitest/config';

/**
 * `npm run test:install`: the production install from a clean clone (test/install/). Minutes, not
 * seconds (npm ci compiles better-sqlite3 where no prebuilt binary can be downloaded), so it is
 * kept out of `npm test`; CI runs both (.ci/run).
 */
export default defineConfig({
  test: {
    include: ['test/install/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
