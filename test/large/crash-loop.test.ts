import { describe, it } from 'vitest';
import { floodBacklogAfterRetry, PEAK_RSS_LIMIT_MB } from '../support/flood-backlog.js';

/**
 * Issue 33 item 3 at full size (`npm run test:large`): 100,000 deliveries waiting on a held feed
 * channel once ran `npm start`'s heap out at `/dispatch source retry` (the flood summary read every
 * waiting body at once), and since the summary batch was saved first, every start after it too.
 */
describe('a held feed channel with 100,000 waiting deliveries, as npm start runs Dispatch', () => {
  it(`source retry posts flood summaries of every one; the process lives under ${PEAK_RSS_LIMIT_MB} MB, and a restart mid-way does not crash`, async () => {
    await floodBacklogAfterRetry(100_000, 120_000);
  }, 300_000);
});
