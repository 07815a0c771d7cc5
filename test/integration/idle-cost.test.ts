import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { createSource } from '../../src/db/sources.js';
import { systemClock } from '../../src/delivery/clock.js';
import type { DiscordChannels } from '../../src/delivery/sender.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { asChannelId, asGuildId, asMessageId, threadOfMessage } from '../../src/ids.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { seedIdle } from '../../bench/scale.js';
import { storeEvent } from '../support/db.js';
import { openTestDatabase, TEST_DIALECT, tempDir } from '../support/harness.js';
import { migratedDatabase } from '../support/postgres.js';
import { recordingDatabase } from '../support/recording-db.js';

/**
 * What a pass of the delivery worker costs beside 1,000 idle sources (2,000 routes, half card and
 * half feed, each with an event of history, and 1,000 open cards): counted in statements through
 * the Database seam, not timed. It must not grow with what exists, only with what is due.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function database(idleSources: number): Promise<Database> {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  const env: Record<string, string> = TEST_DIALECT === 'postgres' ? { DATABASE_URL: await migratedDatabase() } : {};
  const db = await openTestDatabase(join(dir.path, 'd.db'), env);
  cleanups.push(() => db.close());
  if (idleSources > 0) await seedIdle(db, { sources: idleSources, cards: idleSources, guildId: '10' });
  return db;
}

function worker(db: Database, posts: string[]) {
  const config = loadConfig({ DISCORD_TOKEN: 't' });
  const discord: DiscordChannels = {
    post: async (channelId) => {
      posts.push(channelId);
      return { id: asMessageId(String(1_300_000_000_000_000_000n + BigInt(posts.length))) };
    },
    edit: async () => {},
    startThread: async (_c, messageId) => ({ id: threadOfMessage(messageId) }),
    countNewer: async () => 0,
    unarchive: async () => {},
    remove: async () => {},
  };
  const built = new DeliveryWorker({
    db,
    discord,
    // No member is ever sent a DM here.
    people: { isMember: async () => true },
    logger: createLogger({ level: 'silent', pretty: false }),
    metrics: createMetrics(db, Date.now),
    clock: systemClock(),
    retry: config.retry,
    retentionMs: config.eventRetentionMs,
    batchLingerMs: 0,
    flood: config.flood,
    cardBumpAfterMs: config.cardBumpAfterMs,
    channels: { take: async () => true, release: async () => {} },
  });
  cleanups.push(() => built.stop(1000));
  return built;
}

async function quiet(w: DeliveryWorker): Promise<void> {
  for (let calm = 0; calm < 3; ) {
    const { running, scheduled, inFlight } = w.activity();
    calm = !running && !scheduled && inFlight === 0 ? calm + 1 : 0;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Statements of an idle pass, and of the pass that sends one new event, on a database with `idleSources` idle sources. */
async function passCosts(idleSources: number) {
  const recording = recordingDatabase(await database(idleSources));
  const posts: string[] = [];
  const w = worker(recording.db, posts);
  w.start();
  await quiet(w);
  recording.statements.length = 0;
  w.kick();
  await quiet(w);
  const idle = recording.statements.length;
  const { source, route } = await createSource(
    recording.db,
    { guildId: asGuildId('10'), channelId: asChannelId('99'), layout: 'feed', name: 'busy', signingSecret: null, createdBy: '1' },
    Date.now(),
  );
  await storeEvent(recording.db, { sourceId: source.id, eventType: 'issue.created', text: '{"data":{"issue":{"title":"x"}}}', route });
  recording.statements.length = 0;
  w.kick();
  await quiet(w);
  expect(posts).toEqual(['99']);
  return { idle, busy: recording.statements.length };
}

describe(`a pass beside 1,000 idle sources (${TEST_DIALECT})`, () => {
  it('costs the same statements as on an empty database: a few when idle, a handful more for a due event', async () => {
    const empty = await passCosts(0);
    const big = await passCosts(1000);
    expect(big).toEqual(empty);
    expect(big.idle).toBeLessThanOrEqual(4);
    expect(big.busy).toBeLessThanOrEqual(20);
  });
});
