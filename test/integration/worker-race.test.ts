import { DiscordAPIError } from 'discord.js';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { holdOf } from '../../src/db/holds.js';
import { createSource, setSourceEnabled } from '../../src/db/sources.js';
import type { DiscordChannels, OutgoingMessage } from '../../src/delivery/sender.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { systemClock } from '../../src/delivery/clock.js';
import { asChannelId, asGuildId, asMessageId, threadOfMessage, type ChannelId } from '../../src/ids.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { storeEvent } from '../support/db.js';
import { tempDir, waitFor } from '../support/harness.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { loadFixture, serializeLikeSentry } from '../support/sentry.js';

/**
 * The delivery worker on its own, with a Discord and a channel lock whose answers the test holds
 * back, to put two things in an order the real ones only fall into now and then.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const missingPermissions = () =>
  new DiscordAPIError({ code: 50013, message: 'Missing Permissions' }, 50013, 403, 'POST', '/channels/1/messages', {});

describe('a channel put on hold while a pass of the worker is under way', () => {
  it('gets nothing more, although the pass listed it before the hold', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const config = loadConfig({ DISCORD_TOKEN: 't', DATABASE_PATH: join(dir.path, 'd.db') });
    const db: Database = openSqlite(config.databasePath);
    cleanups.push(() => db.close());
    const make = (name: string, channelId: string) =>
      createSource(
        db,
        { guildId: asGuildId('10'), channelId: asChannelId(channelId), layout: 'feed', name, signingSecret: null, createdBy: '1' },
        Date.now(),
      );
    const [first, second] = [await make('first', '201'), await make('second', '202')];
    const text = serializeLikeSentry(loadFixture('issue.created.json'));
    // The second channel's event is the older one, so a pass looks at it first.
    await storeEvent(db, { sourceId: second.source.id, eventType: 'issue.created', text, route: second.route });
    await storeEvent(db, { sourceId: first.source.id, eventType: 'issue.created', text, route: first.route });
    await setSourceEnabled(db, second.source, false, Date.now());

    const posts: string[] = [];
    const refusal = gate();
    const secondTaken = gate();
    const discord: DiscordChannels = {
      post: async (channelId: ChannelId, _message: OutgoingMessage) => {
        posts.push(channelId);
        if (channelId === '201') {
          await refusal.opened;
          throw missingPermissions();
        }
        return { id: asMessageId('1') };
      },
      edit: async () => {},
      startThread: async (_c, messageId) => ({ id: threadOfMessage(messageId) }),
      countNewer: async () => 0,
      unarchive: async () => {},
      remove: async () => {},
    };
    const worker = new DeliveryWorker({
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
      channels: {
        take: async (channelId) => {
          if (channelId === '202') await secondTaken.opened;
          return true;
        },
        release: async () => {},
      },
    });
    cleanups.push(() => worker.stop(1000));

    // A pass starts the first channel's send, which Discord holds back.
    worker.start();
    await waitFor(() => posts.length === 1, 5000, 'the first send');
    // A second pass lists both channels (the first one busy) and waits to take the second.
    await setSourceEnabled(db, second.source, true, Date.now());
    worker.kick();
    await new Promise((r) => setTimeout(r, 50));
    // Meanwhile Discord refuses the first channel: it goes on hold.
    refusal.open();
    await expect.poll(async () => (await holdOf(db, asChannelId('201')))?.code, { timeout: 5000 }).toBe(50013);
    await new Promise((r) => setTimeout(r, 50));
    // The pass goes on from the second channel to the first, listed before the hold.
    secondTaken.open();
    await expect.poll(() => posts.filter((c) => c === '202').length, { timeout: 5000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(posts.filter((c) => c === '201')).toHaveLength(1);
  });
});
