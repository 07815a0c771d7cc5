import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { keyCheckOf } from '../../src/db/key-check.js';
import { startDispatch, type Dispatch } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import { deliveriesOf, eventsOf, sourceRow } from '../support/db.js';
import { deleteRoute, routesOf, updateRoute } from '../../src/db/routes.js';
import { asChannelId, asGuildId, asSourceId, asUserId } from '../../src/ids.js';
import { saveLink } from '../../src/db/member-links.js';
import { deleteSource, findSourceById, setSourceEnabled } from '../../src/db/sources.js';
import { settingsRequest } from '../support/sentry-ui.js';
import { FakeDiscord } from '../support/fake-discord.js';
import { tempDir, testEnv, testGuild } from '../support/harness.js';
import { databaseAtRelease } from '../support/previous-release.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { loadFixture, sentryRequest, serializeLikeSentry } from '../support/sentry.js';

const silent = createLogger({ level: 'silent', pretty: false });

const issueWith = (payload: { data: { issue: Record<string, unknown> } }, shortId: string) => ({
  ...payload,
  data: { ...payload.data, issue: { ...payload.data.issue, shortId } },
});
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback Discord and a folder for the database file, both cleaned up after the test. */
async function discordAndFolder() {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild] });
  const dir = tempDir();
  cleanups.push(
    () => dir.remove(),
    () => discord.stop(),
  );
  return { guild, discord, dir };
}

describe('upgrading a database made by the previous release', () => {
  it('0000_init → now: sources, counters and waiting events survive, and the waiting event is posted', async () => {
    const { guild, discord, dir } = await discordAndFolder();
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
    await expect.poll(async () => (await deliveriesOf(dispatch.db, 7)).map((e) => e.status)).toEqual(['delivered', 'delivered']);
    const source = await sourceRow(dispatch.db, 7);
    expect(source).toMatchObject({ name: 'legacy', eventsReceived: 2, eventsDelivered: 2 });
    expect(source.signingSecret).toMatch(/^enc:v1:/); // sealed at start (the webhook below still verifies with it)
    expect(source).not.toHaveProperty('permanentFailureStreak');
    const [old] = await eventsOf(dispatch.db, 7);
    expect(old).toMatchObject({ deduped: true, duplicates: 0 });
    expect((await deliveriesOf(dispatch.db, 7))[0]).toMatchObject({ renderFallback: 0 });

    // The upgraded file takes new webhooks, deduplicated by the new partial index.
    const request = sentryRequest('issue', loadFixture('example-app-mocks/issue.resolved.json'), 'old-secret');
    const first = await fetch(`${dispatch.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    const again = await fetch(`${dispatch.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(((await again.json()) as { event_id: string }).event_id).toBe(((await first.json()) as { event_id: string }).event_id);
  });

  it("0001_delivery_trust → now: each source gets its first route, each event its delivery (status, attempts, nonce kept), templates stay the source's", async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const channelId = guild.channels[1]!.id;
    const body = serializeLikeSentry(loadFixture('issue.created.json'));
    const path = databaseAtRelease(dir.path, '0001_delivery_trust', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, channel_id, name, slug, signing_secret, created_by, created_at, updated_at, events_received, events_delivered)
         values (3, ?, ?, 'older', 'OLDEROLDEROLDEROLDEROLDEROLDER00', null, '1', 1, 1, 2, 1)`,
      ).run(guild.id, channelId);
      db.prepare(`insert into templates (source_id, event_pattern, body, updated_by, updated_at) values (3, 'issue.*', ?, '1', 1)`).run(
        JSON.stringify({ embed: { title: 'kept {{ payload.data.issue.shortId }}' } }),
      );
      const insert = db.prepare(
        `insert into events (id, source_id, channel_id, event_type, body_hash, body, received_at, status, attempts, next_attempt_at, batch_id, delivered_at, message_id)
         values (?, 3, ?, 'issue.created', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      insert.run(
        '00000000-0000-4000-8000-00000000000a',
        channelId,
        'c'.repeat(64),
        body,
        Date.now() - 5000,
        'delivered',
        0,
        0,
        'old-batch-posted',
        Date.now() - 4000,
        '1300000000000000999',
      );
      insert.run(
        '00000000-0000-4000-8000-00000000000b',
        channelId,
        'd'.repeat(64),
        body.replace('PYTHON-Y', 'PYTHON-WAIT'),
        Date.now() - 1000,
        'pending',
        2,
        0,
        'kept-nonce-1234567890',
        null,
        null,
      );
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    const message = await discord.waitForMessage((m) => m.channel_id === channelId);
    expect(message.nonce).toBe('kept-nonce-1234567890'); // the waiting batch resends under its recorded nonce
    expect(message.embeds[0]).toMatchObject({ title: 'kept PYTHON-WAIT' }); // the source's template still applies
    const routes = await dispatch.db.all(sql`select name, channel_id from routes where source_id = 3`);
    expect(routes).toEqual([{ name: 'main', channel_id: channelId }]);
    await expect
      .poll(async () => (await deliveriesOf(dispatch.db, 3)).map((d) => [d.status, d.channelId]))
      .toEqual([
        ['delivered', channelId],
        ['delivered', channelId],
      ]);
    const [posted] = await deliveriesOf(dispatch.db, 3);
    expect(posted).toMatchObject({ messageId: '1300000000000000999', batchId: 'old-batch-posted' });
    expect(await dispatch.db.all(sql`select route_id, event_pattern from templates`)).toEqual([
      { route_id: null, event_pattern: 'issue.*' },
    ]);
    expect((await sourceRow(dispatch.db, 3)).eventsDelivered).toBe(2);
  });

  it('0002_routes → now: existing routes keep feed (a message per event), their waiting event is posted, and no card is made', async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const channelId = guild.channels[0]!.id;
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const path = databaseAtRelease(dir.path, '0002_routes', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (4, ?, 'web', 'ROUTESROUTESROUTESROUTESROUTES00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, created_by, created_at, updated_at) values (9, 4, 'main', ?, '1', 1, 1)`,
      ).run(channelId);
      db.prepare(
        `insert into events (seq, id, source_id, event_type, body_hash, body, received_at) values (1, '00000000-0000-4000-8000-00000000000c', 4, 'issue.created', ?, ?, ?)`,
      ).run('e'.repeat(64), serializeLikeSentry(issueWith(created, 'PYTHON-OLD')), Date.now() - 1000);
      db.prepare(`insert into deliveries (event_seq, route_id, channel_id, next_attempt_at) values (1, 9, ?, 0)`).run(channelId);
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    const waiting = await discord.waitForMessage((m) => m.channel_id === channelId);
    expect(JSON.stringify(waiting.embeds)).toContain('PYTHON-OLD');
    expect(await dispatch.db.all(sql`select id, layout, thread_problem from routes`)).toEqual([
      { id: 9, layout: 'feed', thread_problem: null },
    ]);

    // The same issue again, resolved: a feed posts a second message, where a card route would have edited the first.
    const resolved = { ...issueWith(created, 'PYTHON-OLD'), action: 'resolved' };
    const response = await fetch(`${dispatch.url}/hooks/ROUTESROUTESROUTESROUTESROUTES00`, {
      method: 'POST',
      ...sentryRequest('issue', resolved, 'sek'),
    });
    expect(response.status).toBe(202);
    await expect.poll(() => discord.messagesIn(channelId).length).toBe(2);
    expect(discord.edits).toHaveLength(0);
    expect(await dispatch.db.all(sql`select * from cards`)).toEqual([]);
  });

  it('0003_cards → now: a live card keeps being edited, with its buttons; sources start unconnected, routes without a triage role', async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const channelId = guild.channels[0]!.id;
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const issueId = String(created.data.issue.id);
    const path = databaseAtRelease(dir.path, '0003_cards', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (5, ?, 'web', 'CARDSCARDSCARDSCARDSCARDSCARDS00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, layout, created_by, created_at, updated_at) values (11, 5, 'main', ?, 'card', '1', 1, 1)`,
      ).run(channelId);
      const state = {
        key: `issue:${issueId}`,
        kind: 'issue',
        title: 'Old card',
        status: 'unresolved',
        lastUpdate: { text: 'New issue', at: 1 },
        history: [],
      };
      db.prepare(
        `insert into cards (route_id, card_key, channel_id, message_id, state, posted_at, last_edit_at, updated_at) values (11, ?, ?, '1300000000000000777', ?, ?, 1, 1)`,
      ).run(`issue:${issueId}`, channelId, JSON.stringify(state), Date.now());
      db.prepare(
        `insert into card_messages (message_id, channel_id, embeds, content, created_at) values ('1300000000000000777', ?, '[{"title":"Old card"}]', null, 1)`,
      ).run(channelId);
    });
    // The card as the previous release posted it, in the loopback Discord.
    discord.messages.push({
      id: '1300000000000000777',
      channel_id: channelId,
      at: Date.now(),
      embeds: [{ title: 'Old card' }],
      components: [],
      edits: 0,
      nonceAt: Date.now(),
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    expect(await dispatch.db.get(sql`select sentry_token, sentry_base_url, sentry_problem from sources where id = 5`)).toEqual({
      sentry_token: null,
      sentry_base_url: null,
      sentry_problem: null,
    });
    expect(await dispatch.db.get(sql`select triage_role_id from routes where id = 11`)).toEqual({ triage_role_id: null });
    const resolved = { ...created, action: 'resolved', data: { ...created.data, issue: { ...created.data.issue, status: 'resolved' } } };
    const response = await fetch(`${dispatch.url}/hooks/CARDSCARDSCARDSCARDSCARDSCARDS00`, {
      method: 'POST',
      ...sentryRequest('issue', resolved, 'sek'),
    });
    expect(response.status).toBe(202);
    await expect.poll(() => discord.editsOf('1300000000000000777').length, { timeout: 5000 }).toBe(1);
    const card = discord.message('1300000000000000777')!;
    expect(JSON.stringify(card.embeds)).toContain('resolved');
    expect(card.components.flatMap((row: { components: { label: string }[] }) => row.components.map((c) => c.label))).toEqual([
      'Open in Sentry',
    ]);
    expect(discord.messagesIn(channelId)).toHaveLength(1);
  });

  it('0004_triage → now: a batch the previous release had begun to send is sent again under its nonce, not twice; a removed route counts what it dropped', async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const [first, second] = [guild.channels[0]!.id, guild.channels[1]!.id];
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const path = databaseAtRelease(dir.path, '0004_triage', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (6, ?, 'web', 'SENDINGSENDINGSENDINGSENDINGSE00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, created_by, created_at, updated_at) values (12, 6, 'main', ?, '1', 1, 1)`,
      ).run(first);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, created_by, created_at, updated_at) values (13, 6, 'ops', ?, '1', 1, 1)`,
      ).run(second);
      db.prepare(
        `insert into events (seq, id, source_id, event_type, body_hash, body, received_at) values (1, '00000000-0000-4000-8000-00000000000d', 6, 'issue.created', ?, ?, ?)`,
      ).run('d'.repeat(64), serializeLikeSentry(issueWith(created, 'PYTHON-BEGUN')), Date.now() - 1000);
      // Its first route's batch had been sent (Discord has it) but not recorded; its second route's waits in a held channel.
      db.prepare(
        `insert into deliveries (event_seq, route_id, channel_id, batch_id, next_attempt_at) values (1, 12, ?, 'begun-nonce', 0)`,
      ).run(first);
      db.prepare(`insert into deliveries (event_seq, route_id, channel_id, next_attempt_at) values (1, 13, ?, 0)`).run(second);
      db.prepare(
        `insert into holds (channel_id, guild_id, code, reason, since, next_probe_at) values (?, ?, 50013, 'Missing Permissions', 1, ?)`,
      ).run(second, guild.id, Date.now() + 3_600_000);
    });
    discord.messages.push({
      id: '1300000000000000888',
      channel_id: first,
      at: Date.now(),
      embeds: [{ title: 'PYTHON-BEGUN' }],
      components: [],
      edits: 0,
      nonce: 'begun-nonce',
      nonceAt: Date.now(),
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    await expect.poll(async () => (await deliveriesOf(dispatch.db, asSourceId(6)))[0]?.status, { timeout: 5000 }).toBe('delivered');
    expect(discord.messagesIn(first)).toHaveLength(1);
    expect((await deliveriesOf(dispatch.db, asSourceId(6)))[0]?.messageId).toBe('1300000000000000888');
    expect((await sourceRow(dispatch.db, asSourceId(6))).eventsDropped).toBe(0);
    const ops = (await routesOf(dispatch.db, asSourceId(6))).find((r) => r.name === 'ops')!;
    expect(await deleteRoute(dispatch.db, ops, Date.now())).toBe(1);
    // The route's leftovers are purged in the background, and what waited is counted as dropped.
    await dispatch.worker.tidy();
    expect((await sourceRow(dispatch.db, asSourceId(6))).eventsDropped).toBe(1);
  });

  it("0005_compositions → now: a source's alert rules may name its routes and roles; accepted roles go with the source", async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const role = { id: '1300000000000000555', name: 'payments', mentionable: true };
    guild.roles = [role];
    const channelId = guild.channels[0]!.id;
    const path = databaseAtRelease(dir.path, '0005_compositions', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (5, ?, 'web', 'ALERTSALERTSALERTSALERTSALERTS00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at)
         values (14, 5, 'main', ?, '{"events":["issue.*"]}', 'feed', '1', 1, 1)`,
      ).run(channelId);
    });
    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    const fields = [
      { name: 'dispatch_route', value: '14' },
      { name: 'dispatch_ping_role', value: role.id },
    ];
    const check = settingsRequest(
      `${dispatch.url}/hooks/ALERTSALERTSALERTSALERTSALERTS00`,
      '/sentry-ui/ALERTSALERTSALERTSALERTSALERTS00/settings',
      'sek',
      fields,
    );
    expect((await fetch(check.url, check.init)).status).toBe(200);
    const alert = loadFixture('example-app-mocks/event_alert.triggered.with_alert_rule_action.json') as { data: Record<string, any> };
    const named = { ...alert, data: { ...alert.data, issue_alert: { ...alert.data.issue_alert, settings: fields } } };
    const response = await fetch(`${dispatch.url}/hooks/ALERTSALERTSALERTSALERTSALERTS00`, {
      method: 'POST',
      ...sentryRequest('event_alert', named, 'sek'),
    });
    expect(response.status).toBe(202);
    const message = await discord.waitForMessage((m) => m.channel_id === channelId);
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [role.id] });
    await deleteSource(dispatch.db, (await findSourceById(dispatch.db, asGuildId(guild.id), asSourceId(5)))!, Date.now());
    await dispatch.worker.tidy();
    expect(await dispatch.db.all(sql`select * from alert_ping_roles`)).toEqual([]);
  });

  it('0007_card_sync → now: routes start without quiet hours or digests, a waiting event is posted as before, and nothing is held', async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const channelId = guild.channels[0]!.id;
    const path = databaseAtRelease(dir.path, '0007_card_sync', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (3, ?, 'web', 'QUIETQUIETQUIETQUIETQUIETQUIET00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at)
         values (9, 3, 'main', ?, '{}', 'feed', '1', 1, 1)`,
      ).run(channelId);
      const body = serializeLikeSentry(issueWith(loadFixture('issue.created.json') as never, 'UPGRADE-7'));
      db.prepare(
        `insert into events (id, source_id, event_type, body_hash, body, received_at) values ('e7', 3, 'issue.created', 'h7', ?, ?)`,
      ).run(body, Date.now());
      db.prepare(`insert into deliveries (event_seq, route_id, channel_id, status, next_attempt_at) values (1, 9, ?, 'pending', 0)`).run(
        channelId,
      );
    });
    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    const message = await discord.waitForMessage((m) => m.channel_id === channelId && JSON.stringify(m.embeds).includes('UPGRADE-7'));
    expect(message.flags ?? 0).toBe(0);
    const [route] = await routesOf(dispatch.db, asSourceId(3));
    expect(route).toMatchObject({ timeZone: 'UTC', quietFrom: null, quietTo: null, quietPass: 'fatal', digestEvery: null });
    await expect.poll(async () => (await deliveriesOf(dispatch.db, 3)).map((d) => [d.status, d.muted])).toEqual([['delivered', false]]);
    expect(await dispatch.digests.tick()).toBe(0);
  });

  it("0008_quiet_hours → now: the first start records which key seals the database's secrets; another key is then refused, the first one still verifies", async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const path = databaseAtRelease(dir.path, '0008_quiet_hours', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (5, ?, 'web', 'KEYCHECKKEYCHECKKEYCHECKKEYCHEC0', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at)
         values (9, 5, 'main', ?, '{}', 'feed', '1', 1, 1)`,
      ).run(guild.channels[0]!.id);
    });
    const [key, other] = [randomBytes(32), randomBytes(32)];
    const start = (k: Buffer) =>
      startDispatch(loadConfig(testEnv(discord, path, { DISPATCH_ENCRYPTION_KEY: k.toString('base64') })), silent);
    const first = await start(key);
    expect(await first.db.get(sql`select value from settings where name = 'key_check'`)).toEqual({ value: keyCheckOf(key) });
    await first.stop();
    await expect(start(other)).rejects.toThrow(/^DISPATCH_ENCRYPTION_KEY is not the key this database's secrets are sealed with/);
    const again = await start(key);
    cleanups.push(() => again.stop());
    const request = sentryRequest('issue', loadFixture('issue.created.json'), 'sek');
    const answer = await fetch(`${again.url}/hooks/KEYCHECKKEYCHECKKEYCHECKKEYCHEC0`, {
      method: 'POST',
      body: request.body,
      headers: request.headers,
    });
    expect(answer.status).toBe(202);
  });

  it("0010_key_check → now: every route is a channel's; a member then connects and gets a DM through a route of their own that route commands never show", async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const channelId = guild.channels[0]!.id;
    const path = databaseAtRelease(dir.path, '0010_key_check', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
         values (4, ?, 'web', 'PEOPLEPEOPLEPEOPLEPEOPLEPEOPLE00', 'sek', '1', 1, 1)`,
      ).run(guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at)
         values (11, 4, 'main', ?, '{}', 'feed', '1', 1, 1)`,
      ).run(channelId);
    });
    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    expect((await routesOf(dispatch.db, asSourceId(4))).map((r) => [r.name, r.kind])).toEqual([['main', 'channel']]);

    // A member of the server connects (as /dispatch me connect saves it), with their DM channel.
    const userId = '1400000000000000001';
    guild.members = [...(guild.members ?? []), userId];
    const dmChannelId = '1400000000000000002';
    discord.dmChannels.set(dmChannelId, userId);
    await saveLink(
      dispatch.db,
      {
        guildId: asGuildId(guild.id),
        userId: asUserId(userId),
        baseUrl: 'https://sentry.io',
        org: 'example-org',
        token: 'sealed-elsewhere',
        sentryUserId: '501',
        sentryName: 'Alice',
        sentryEmail: 'alice@example.com',
        scopes: ['event:write'],
        dmChannelId: asChannelId(dmChannelId),
      },
      Date.now(),
    );
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const assigned = {
      ...created,
      action: 'assigned',
      data: {
        ...created.data,
        issue: { ...created.data.issue, shortId: 'UPGRADE-10' },
        assignee: { type: 'user', id: 501, name: 'Alice' },
      },
    };
    const request = sentryRequest('issue', assigned, 'sek');
    const answer = await fetch(`${dispatch.url}/hooks/PEOPLEPEOPLEPEOPLEPEOPLEPEOPLE00`, {
      method: 'POST',
      body: request.body,
      headers: request.headers,
    });
    expect(answer.status).toBe(202);
    const dm = await discord.waitForMessage((m) => m.channel_id === dmChannelId);
    expect(JSON.stringify(dm.embeds)).toContain('Assigned to you');
    await discord.waitForMessage((m) => m.channel_id === channelId && JSON.stringify(m.embeds).includes('UPGRADE-10'));
    expect((await routesOf(dispatch.db, asSourceId(4))).map((r) => r.name)).toEqual(['main']);
  });

  it("0008_quiet_hours → now: 'pending' being sent, 'paused' and 'held' deliveries each end as the old release meant", async () => {
    const { guild, discord, dir } = await discordAndFolder();
    const [a, b] = [guild.channels[0]!.id, guild.channels[1]!.id];
    const bodyOf = (shortId: string) => serializeLikeSentry(issueWith(loadFixture('issue.created.json') as never, shortId));
    const minute = new Date().getUTCHours() * 60 + new Date().getUTCMinutes();
    const now = Date.now();
    const path = databaseAtRelease(dir.path, '0008_quiet_hours', (db) => {
      db.prepare(
        `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at, enabled)
        values (5, ?, 'live', 'LIVELIVELIVELIVELIVELIVELIVELIV0', null, '1', 1, 1, 1),
               (6, ?, 'off', 'OFFOFFOFFOFFOFFOFFOFFOFFOFFOFF00', null, '1', 1, 1, 0)`,
      ).run(guild.id, guild.id);
      db.prepare(
        `insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at, quiet_from, quiet_to, quiet_since)
        values (9, 5, 'main', ?, '{}', 'feed', '1', 1, 1, null, null, null),
               (10, 6, 'main', ?, '{}', 'feed', '1', 1, 1, null, null, null),
               (11, 5, 'night', ?, '{}', 'feed', '1', 1, 1, ?, ?, ?)`,
      ).run(a, b, b, (minute + 1440 - 60) % 1440, (minute + 120) % 1440, now - 3_600_000);
      const event = db.prepare(
        `insert into events (seq, id, source_id, event_type, body_hash, body, received_at) values (?, ?, ?, 'issue.created', ?, ?, ?)`,
      );
      event.run(1, 'e1', 5, 'h1', bodyOf('BEING-SENT'), now - 3000);
      event.run(2, 'e2', 6, 'h2', bodyOf('PAUSED'), now - 2000);
      event.run(3, 'e3', 5, 'h3', bodyOf('HELD'), now - 1000);
      const delivery = db.prepare(
        `insert into deliveries (event_seq, route_id, channel_id, status, batch_id, sending, attempts, next_attempt_at) values (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      delivery.run(1, 9, a, 'pending', 'begun-nonce', 1, 1, 0); // its send had begun; Discord posted it
      delivery.run(2, 10, b, 'paused', null, 0, 0, 0);
      delivery.run(3, 11, b, 'held', null, 0, 0, 0);
    });
    discord.messages.push({
      id: '1300000000000000888',
      channel_id: a,
      at: now,
      embeds: [{ title: 'BEING-SENT' }],
      components: [],
      edits: 0,
      nonce: 'begun-nonce',
      nonceAt: now,
    });

    const dispatch: Dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    await expect
      .poll(async () => (await deliveriesOf(dispatch.db, 5)).map((d) => d.status), { timeout: 5000 })
      .toEqual(['delivered', 'quiet']);
    expect((await deliveriesOf(dispatch.db, 5))[0]!.messageId).toBe('1300000000000000888');
    expect(discord.messagesIn(a)).toHaveLength(1);
    expect((await deliveriesOf(dispatch.db, 6)).map((d) => d.status)).toEqual(['pending']);
    expect(discord.messagesIn(b)).toHaveLength(0);

    // The disabled source enabled: its paused event goes. Quiet hours off: the held one goes.
    const off = (await findSourceById(dispatch.db, asGuildId(guild.id), asSourceId(6)))!;
    await setSourceEnabled(dispatch.db, off, true, Date.now());
    const night = (await routesOf(dispatch.db, asSourceId(5))).find((r) => r.name === 'night')!;
    await updateRoute(dispatch.db, night, { schedule: { quietFrom: null, quietTo: null } }, Date.now());
    await dispatch.worker.tidy();
    dispatch.worker.kick();
    await expect.poll(async () => (await deliveriesOf(dispatch.db, 6)).map((d) => d.status), { timeout: 5000 }).toEqual(['delivered']);
    await expect
      .poll(async () => (await deliveriesOf(dispatch.db, 5)).map((d) => d.status), { timeout: 5000 })
      .toEqual(['delivered', 'delivered']);
    const inB = JSON.stringify(discord.messagesIn(b).map((m) => m.embeds));
    expect([inB.includes('PAUSED'), inB.includes('HELD')]).toEqual([true, true]);
    expect((await sourceRow(dispatch.db, 5)).eventsDelivered).toBe(2);
  });
});

describe('review4: a database that main migrated to 0012_dm_once as 309463a wrote it', () => {
  // FINDING (fixed: 0012 / pg 0008 are back as 309463a wrote them; the claim's columns are 0013_dm_claims
  // / pg 0009, which recreates dm_sent, and arrived_at moved to 0014 / pg 0010 with its `when` kept,
  // so a database at any of main's states runs exactly what it lacks): 0012_dm_once (pg 0008) was committed to main in 309463a (dm_sent: dm_key, sent_at),
  // then regenerated in place by the dmclaim merge (received_at, delivery_seq) with a later `when`.
  // drizzle's migrator runs every migration newer than the last it applied: on a database that ran
  // main in between, it runs the new 0012 again, whose `create table dm_sent` fails, and Dispatch
  // does not start. A migration that has landed is never rewritten: the change is a new migration.
  it('starts, and dm_sent takes claims as the code writes them', async () => {
    const { discord, dir } = await discordAndFolder();
    const path = databaseAtRelease(dir.path, '0011_people', () => {});
    // What main's 0012 was at 309463a, applied as drizzle applied it there.
    const folder = join(dir.path, 'migrations-0011_people');
    writeFileSync(
      join(folder, '0012_dm_once.sql'),
      'CREATE TABLE `dm_sent` (\n\t`dm_key` text PRIMARY KEY NOT NULL,\n\t`sent_at` integer NOT NULL\n);\n--> statement-breakpoint\nCREATE INDEX `dm_sent_at` ON `dm_sent` (`sent_at`);',
    );
    const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: object[] };
    journal.entries.push({ idx: 12, version: '6', when: 1796631874468, tag: '0012_dm_once', breakpoints: true });
    writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify(journal));
    const sqlite = new BetterSqlite3(path);
    migrate(drizzle(sqlite), { migrationsFolder: folder });
    sqlite.close();

    const dispatch = await startDispatch(loadConfig(testEnv(discord, path)), silent);
    cleanups.push(() => dispatch.stop());
    await dispatch.db.run(sql`insert into dm_sent (dm_key, received_at, delivery_seq) values ('k', 1, 1)`);
    expect(await dispatch.db.all(sql`select dm_key, received_at, delivery_seq from dm_sent`)).toEqual([
      { dm_key: 'k', received_at: 1, delivery_seq: 1 },
    ]);
  });
});
