import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startDispatch, type Dispatch } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import { eventsOf, sourceRow } from '../support/db.js';
import { FakeDiscord } from '../support/fake-discord.js';
import { tempDir, testEnv, testGuild } from '../support/harness.js';
import { databaseAtRelease } from '../support/previous-release.js';
import { loadFixture, sentryRequest, serializeLikeSentry } from '../support/sentry.js';

const silent = createLogger({ level: 'silent', pretty: false });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('upgrading a database made by the previous release', () => {
  it('0000_init → now: sources, counters and waiting events survive, and the waiting event is posted', async () => {
    const guild = testGuild();
    const discord = await FakeDiscord.start({ guilds: [guild] });
    const dir = tempDir();
    cleanups.push(
      () => dir.remove(),
      () => discord.stop(),
    );
    const channelId = guild.channels[0]!.id;
    const body = serializeLikeSentry(loadFixture('issue.created.json'));
    const path = databaseAtRelease(dir.path, '0000_init', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, channel_id, name, slug, signing_secret, created_by, events_received, events_delivered, permanent_failure_streak)
         values (7, ?, ?, 'legacy', 'LEGACYLEGACYLEGACYLEGACYLEGACY00', 'old-secret', '1', 2, 1, 2)`,
      ).run(guild.id, channelId);
      const insert = db.prepare(
        `insert into events (id, source_id, channel_id, event_type, body_hash, body, received_at, status, next_attempt_at, delivered_at)
         values (?, 7, ?, 'issue.created', ?, ?, ?, ?, ?, ?)`,
      );
      insert.run(
        '00000000-0000-4000-8000-000000000001',
        channelId,
        'a'.repeat(64),
        body,
        Date.now() - 1000,
        'delivered',
        0,
        Date.now() - 900,
      );
      insert.run(
        '00000000-0000-4000-8000-000000000002',
        channelId,
        'b'.repeat(64),
        body.replace('PYTHON-Y', 'PYTHON-OLD'),
        Date.now(),
        'pending',
        0,
        null,
      );
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    const message = await discord.waitForMessage((m) => m.channel_id === channelId);
    expect(JSON.stringify(message.embeds)).toContain('PYTHON-OLD');
    await expect.poll(async () => (await eventsOf(dispatch.db, 7)).map((e) => e.status)).toEqual(['delivered', 'delivered']);
    const source = await sourceRow(dispatch.db, 7);
    expect(source).toMatchObject({ name: 'legacy', signingSecret: 'old-secret', eventsReceived: 2, eventsDelivered: 2 });
    expect(source).not.toHaveProperty('permanentFailureStreak');
    const [old] = await eventsOf(dispatch.db, 7);
    expect(old).toMatchObject({ deduped: true, duplicates: 0, renderFallback: 0 });

    // The upgraded file takes new webhooks, deduplicated by the new partial index.
    const request = sentryRequest('issue', loadFixture('example-app-mocks/issue.resolved.json'), 'old-secret');
    const first = await fetch(`${dispatch.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    const again = await fetch(`${dispatch.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(((await again.json()) as { event_id: string }).event_id).toBe(((await first.json()) as { event_id: string }).event_id);
  });
});
