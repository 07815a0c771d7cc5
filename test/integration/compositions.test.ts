import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { queueStats } from '../../src/db/queue.js';
import { deferProbe, holdChannel } from '../../src/db/holds.js';
import { createRoute, updateRoute } from '../../src/db/routes.js';
import { deleteSource, setSourceEnabled } from '../../src/db/sources.js';
import { asChannelId, asGuildId } from '../../src/ids.js';
import { deliveriesOf, refuseWrites } from '../support/db.js';
import { PERMISSIONS, snowflake, type FakeGuild } from '../support/fake-discord.js';
import { startHarness, testGuild, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { admin, answerOf, chan, shownText, slash, str } from '../support/interactions.js';
import { loadFixture } from '../support/sentry.js';

/**
 * Where features meet: each test here reproduces one finding of a review that read the code across
 * features (issue #20), with a second server, source or route beside the one under test, and an
 * edit or delete in the middle of a send.
 */

const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const assigned = loadFixture('example-app-mocks/issue.assigned.json');

/** An issue.created whose title names where it comes from, so a test can tell whose text is where. */
const issueTitled = (title: string, id = String(Math.floor(Math.random() * 1e9))) => ({
  ...issue,
  data: { issue: { ...issue.data.issue, id, title, shortId: title } },
});

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const textIn = (h: Harness, channelId: string) => JSON.stringify(h.discord.messagesIn(channelId));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function twoServers(): { guildA: FakeGuild; guildB: FakeGuild } {
  const guildA = testGuild('Acme');
  guildA.channels.push({ id: snowflake(), name: 'third', type: 0 });
  return { guildA, guildB: testGuild('Other') };
}

async function start(env: Record<string, string> = {}, guilds = twoServers()) {
  h = await startHarness({
    discord: { guilds: [guilds.guildA, guilds.guildB] },
    env: { BATCH_LINGER: '20ms', ...env },
    captureLogs: !!process.env.DBG,
  });
  h.guild = guilds.guildA;
  h.channelId = guilds.guildA.channels[0]!.id;
  return { h, ...guilds };
}

async function addRoute(harness: Harness, source: TestSource, name: string, channelId: string, layout: 'card' | 'feed' = 'feed') {
  return createRoute(
    harness.dispatch.db,
    {
      sourceId: source.id,
      name,
      channelId: asChannelId(channelId),
      layout,
      filter: '{}',
      pingRoleId: null,
      pingLevel: 'error',
      createdBy: '1',
    },
    Date.now(),
  );
}

describe('where features meet', () => {
  it('a flood in one server collapses only its own route: nothing of another server reaches its channel (route and source ids differ)', async () => {
    const { h, guildA, guildB } = await start({ FLOOD_THRESHOLD: '3', FLOOD_AFTER: '100ms', RETRY_SCHEDULE: '400ms' });
    // Source A (routes 1 and 2) in server A, source B (route 3) in server B: B's source id is A's second route's id.
    const a = await h.addSource({ secret: null, channelId: guildA.channels[0]!.id, guildId: guildA.id });
    const a2 = await addRoute(h, a, 'second', guildA.channels[1]!.id);
    const b = await h.addSource({ secret: null, channelId: guildB.channels[0]!.id, guildId: guildB.id });
    expect(Number(b.id)).toBe(Number(a2.id));
    h.discord.inject([{ status: 503, body: { message: 'Service Unavailable' } }], a2.channelId);
    h.discord.inject([{ status: 503, body: { message: 'Service Unavailable' } }], b.channelId);
    expect((await h.postEvent(a, 'issue', issueTitled('SERVER-A-0'))).status).toBe(202);
    expect((await h.postEvent(b, 'issue', issueTitled('SERVER-B-0'))).status).toBe(202);
    await waitFor(() => h.discord.messageRequests(b.channelId).length >= 1, 5000, 'the first send to B');
    for (let i = 1; i <= 2; i++) expect((await h.postEvent(a, 'issue', issueTitled(`SERVER-A-${i}`))).status).toBe(202);
    for (let i = 1; i <= 6; i++) expect((await h.postEvent(b, 'issue', issueTitled(`SERVER-B-${i}`))).status).toBe(202);

    await expect.poll(async () => (await queueStats(h.dispatch.db, Date.now())).depth, { timeout: 20_000 }).toBe(0);
    for (const channel of guildB.channels) expect(textIn(h, channel.id)).not.toContain('SERVER-A');
    for (const channel of guildA.channels) expect(textIn(h, channel.id)).not.toContain('SERVER-B');
    // A's second route posted its three events one by one; B's backlog went out as a summary counting all six.
    for (let i = 0; i <= 2; i++) expect(textIn(h, a2.channelId)).toContain(`SERVER-A-${i}`);
    expect(textIn(h, b.channelId)).toContain('+6 more issue.created events');
  });

  it('deleting a source while its new card is being sent leaves the channel working for the next source', async () => {
    const { h } = await start();
    const first = await h.addSource({ secret: null, layout: 'card' });
    const held = gate();
    h.discord.inject([{ status: 200, answerAfter: held.opened }], first.channelId);
    expect((await h.postEvent(first, 'issue', issueTitled('DELETED-SOURCE'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(first.channelId).length === 1, 5000, 'the card posted, its answer held');
    await deleteSource(h.dispatch.db, first, Date.now());
    held.open();

    const second = await h.addSource({ secret: null, channelId: first.channelId });
    expect((await h.postEvent(second, 'issue', issueTitled('NEXT-SOURCE'))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('NEXT-SOURCE'), 5000);
    expect(h.dispatch.worker.health().recordingFailing).toBe(false);
  });

  it('/dispatch source enable sends what waited while the source was disabled', async () => {
    const { h } = await start();
    await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
    const source = await h.addSource({ secret: null, name: 'sleepy' });
    const held = gate();
    h.discord.inject([{ status: 200, answerAfter: held.opened }], source.channelId);
    expect((await h.postEvent(source, 'issue', issueTitled('BEFORE-DISABLE'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(source.channelId).length === 1, 5000, 'the first send');
    expect((await h.postEvent(source, 'issue', issueTitled('WAITED'))).status).toBe(202);
    await setSourceEnabled(h.dispatch.db, source, false, Date.now());
    held.open();
    await expect.poll(async () => (await deliveriesOf(h.dispatch.db, source.id))[0]?.status, { timeout: 5000 }).toBe('delivered');

    const enabled = await answerOf(h.discord, slash(admin(h.guild), 'enable', [str('source', 'sleepy')]));
    expect(shownText(enabled)).toContain('enabled');
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('WAITED'), 5000);
  });

  it('a database error while updating a card is not a Discord outage: other channels go on at full speed', async () => {
    const guilds = twoServers();
    // No threads in the card channel: the follow-up records that on the route, and that write fails.
    guilds.guildA.channels[0]!.deny = PERMISSIONS.CreatePublicThreads;
    const { h } = await start({}, guilds);
    const cards = await h.addSource({ secret: null, layout: 'card' });
    const feed = await h.addSource({ secret: null, channelId: guilds.guildA.channels[1]!.id });
    await refuseWrites(h.dispatch.db, {
      name: 'no_thread_problem',
      table: 'routes',
      on: 'update of thread_problem',
      when: 'new.thread_problem is not null',
      message: 'disk I/O error (injected)',
    });
    expect((await h.postEvent(cards, 'issue', issueTitled('CARD', '4242'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(cards.channelId).length === 1, 5000, 'the card');
    const followUp = { ...assigned, data: { ...(assigned.data as object), issue: { ...issueTitled('CARD', '4242').data.issue } } };
    expect((await h.postEvent(cards, 'issue', followUp)).status).toBe(202);
    await expect
      .poll(async () => (await deliveriesOf(h.dispatch.db, cards.id))[1]?.lastError ?? '', { timeout: 5000 })
      .toContain('disk I/O error');
    expect(h.dispatch.worker.health().outage).toBe(false);
    for (let i = 0; i < 3; i++) expect((await h.postEvent(feed, 'issue', issueTitled(`FEED-${i}`))).status).toBe(202);
    await h.discord.waitForMessages(3, feed.channelId, 5000);
    expect(h.dispatch.worker.health().outage).toBe(false);
  });

  it('a held channel whose probe fails to plan does not stop other channels', async () => {
    const { h, guildA } = await start();
    const broken = await h.addSource({ secret: null });
    const healthy = await h.addSource({ secret: null, channelId: guildA.channels[1]!.id });
    const hold = { channelId: broken.channelId, guildId: asGuildId(guildA.id), code: 50013, reason: 'Missing Permissions' };
    await holdChannel(h.dispatch.db, hold, Date.now(), Date.now() + 3_600_000);
    await refuseWrites(h.dispatch.db, {
      name: 'no_batch_for_broken',
      table: 'deliveries',
      on: 'update of batch_id',
      when: `new.channel_id = '${broken.channelId}'`,
      message: 'cannot plan this channel (injected)',
    });
    // An event waits in the held channel; then its probe is due, and planning it fails.
    expect((await h.postEvent(broken, 'issue', issueTitled('BROKEN'))).status).toBe(202);
    await deferProbe(h.dispatch.db, broken.channelId, Date.now());
    h.dispatch.worker.kick();
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.postEvent(healthy, 'issue', issueTitled('HEALTHY'))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('HEALTHY'), 5000);
  });

  it('a webhook right after another replica removed one of the routes is stored for the routes left, not refused', async () => {
    const { h, guildA } = await start();
    const source = await h.addSource({ secret: null });
    const second = await addRoute(h, source, 'second', guildA.channels[1]!.id);
    expect((await h.postEvent(source, 'issue', issueTitled('CACHED'))).status).toBe(202);
    // Another replica removes the route: this process's cache of the source still lists it for up to a second.
    await h.dispatch.db.run(sql`delete from routes where id = ${second.id}`);
    const response = await h.postEvent(source, 'issue', issueTitled('AFTER-REMOVE'));
    expect(response.status).toBe(202);
    await h.discord.waitForMessage((m) => m.channel_id === source.channelId && JSON.stringify(m.embeds).includes('AFTER-REMOVE'), 5000);
  });

  it('moving a route while its batch is being sent posts the batch once, where it was sent', async () => {
    const { h, guildA } = await start();
    const source = await h.addSource({ secret: null });
    const held = gate();
    h.discord.inject([{ status: 200, answerAfter: held.opened }], source.channelId);
    expect((await h.postEvent(source, 'issue', issueTitled('IN-FLIGHT'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(source.channelId).length === 1, 5000, 'the send, its answer held');
    const moved = await updateRoute(h.dispatch.db, source.route, { channelId: asChannelId(guildA.channels[1]!.id) }, Date.now());
    h.dispatch.worker.kick();
    await new Promise((r) => setTimeout(r, 300));
    held.open();
    await expect.poll(async () => (await deliveriesOf(h.dispatch.db, source.id))[0]?.status, { timeout: 5000 }).toBe('delivered');
    await new Promise((r) => setTimeout(r, 300));
    const everywhere = h.discord.messages.filter((m) => JSON.stringify(m.embeds).includes('IN-FLIGHT'));
    expect(everywhere.map((m) => m.channel_id)).toEqual([source.channelId]);
    // What comes next follows the route.
    expect((await h.postEvent(source, 'issue', issueTitled('AFTER-MOVE'))).status).toBe(202);
    await h.discord.waitForMessage((m) => m.channel_id === moved.channelId && JSON.stringify(m.embeds).includes('AFTER-MOVE'), 5000);
  });

  it('a second route of a source in a channel one of its routes already posts to is refused, saying why', async () => {
    const { h, guildA } = await start();
    await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
    const alice = admin(guildA);
    const source = await h.addSource({ secret: null, name: 'twice' });
    const same = await answerOf(
      h.discord,
      slash(alice, 'add', [str('source', 'twice'), str('name', 'again'), chan('channel', source.channelId)], 'route'),
    );
    expect(shownText(same)).toContain('already posts');
    const other = await answerOf(
      h.discord,
      slash(alice, 'add', [str('source', 'twice'), str('name', 'other'), chan('channel', guildA.channels[1]!.id)], 'route'),
    );
    expect(shownText(other)).toContain('Route **other**');
    const onto = await answerOf(
      h.discord,
      slash(alice, 'edit', [str('source', 'twice'), str('route', 'other'), chan('channel', source.channelId)], 'route'),
    );
    expect(shownText(onto)).toContain('already posts');
  });
});
