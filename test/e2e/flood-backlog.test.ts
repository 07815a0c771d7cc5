import { describe, it } from 'vitest';
import { floodBacklogAfterRetry, PEAK_RSS_LIMIT_MB } from '../support/flood-backlog.js';

/**
 * Issue 33's crash loop, small enough for `npm test` (test/large/crash-loop.test.ts runs it with
 * 100,000 waiting deliveries: `npm run test:large`).
 */
describe('a held feed channel with 10,000 waiting deliveries, as npm start runs Dispatch', () => {
  it(`source retry posts flood summaries of every one; the process lives under ${PEAK_RSS_LIMIT_MB} MB, and a restart mid-way does not crash`, async () => {
    await floodBacklogAfterRetry(10_000, 60_000);
  }, 120_000);
});
