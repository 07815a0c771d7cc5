import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCardEvent } from '../../src/cards/card-events.js';
import { issueCardKey } from '../../src/cards/state.js';
import { SYNC_EVENT_TYPE, type SyncPayload } from '../../src/cards/sync.js';
import { CardReconciler, ISSUES_PER_REQUEST } from '../../src/cards/reconciler.js';
import { createSecretBox } from '../../src/db/secret-box.js';
import { deleteRoute, routesOf, updateRoute } from '../../src/db/routes.js';
import { setSentryConnection } from '../../src/db/sources.js';
import { asSourceId } from '../../src/ids.js';
import { createLogger } from '../../src/logger.js';
import { parseKey } from '../../src/secret-key.js';
import { allDeliveries } from '../support/db.js';
import { FakeSentry } from '../support/fake-sentry.js';
import { startHarness, testGuild, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { admin, answerOf, shownText, slash, str } from '../support/interactions.js';
import { loadFixture } from '../support/sentry.js';

/**
 * Cards read back from Sentry: a card whose issue changed in Sentry without a webhook reaching
 * Dispatch is set right, with one line; two servers, each source with its own Sentry and token;
 * the budget; a route removed or switched to feed in the middle; Sentry's rate limit; two replicas.
 */

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const KEY = 'd'.repeat(64);
const TOKEN_A = 'sntrys_sync-token-aaaaaaaaaaaa';
const TOKEN_B = 'sntrys_sync-token-bbbbbbbbbbbb';
const silent = createLogger({ level: 'silent', pretty: false });

const issueOf = (id: number, shortId = `SYNC-${id}`): Payload => ({
  ...created,
  data: { issue: { ...created.data.issue, id: String(id), shortId, title: `Issue ${shortId}`, status: 'unresolved', substatus: 'new' } },
});

let h: Harness;
let sentryA: FakeSentry;
let sentryB: FakeSentry;
let a: TestSource;
let b: TestSource;
const guildB = testGuild('Other');

/** Every card embed in a channel whose author names this short id. */
const cardsOf = (channelId: string, shortId: string) =>
  h.discord
    .messagesIn(channelId)
    .flatMap((m) => m.embeds as Payload[])
    .filter((e) => e.author?.name?.startsWith(`${shortId} ·`));
const statusOf = (channelId: string, shortId: string) =>
  cardsOf(channelId, shortId)[0]?.fields?.find((f: Payload) => f.name === 'Status')?.value as string | undefined;
const drained = async () =>
  expect.poll(async () => (await allDeliveries(h.dispatch.db)).every((d) => d.status === 'delivered'), { timeout: 10_000 }).toBe(true);

async function connect(source: TestSource, sentry: FakeSentry, token: string) {
  const updated = await setSentryConnection(
    h.dispatch.db,
    source,
    { token: createSecretBox(parseKey(KEY)).seal(token), baseUrl: sentry.url, org: 'example-org', identity: 'Dispatch' },
    Date.now(),
  );
  Object.assign(source, updated);
}

beforeAll(async () => {
  sentryA = await FakeSentry.start({ token: TOKEN_A });
  sentryB = await FakeSentry.start({ token: TOKEN_B });
  const guildA = testGuild('Acme');
  h = await startHarness({
    discord: { guilds: [guildA, guildB] },
    env: {
      DISPATCH_ENCRYPTION_KEY: KEY,
      SENTRY_ALLOW_INSECURE_URLS: 'true',
      SENTRY_ALLOW_PRIVATE_URLS: 'true',
      CARD_SYNC_EVERY: '0s', // read back when the test says
      BATCH_LINGER: '20ms',
    },
  });
  h.guild = guildA;
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  a = await h.addSource({ layout: 'card', name: 'web' });
  b = await h.addSource({ layout: 'card', name: 'web', guildId: guildB.id, channelId: guildB.channels[0]!.id });
  await connect(a, sentryA, TOKEN_A);
  await connect(b, sentryB, TOKEN_B);
});
afterAll(async () => {
  await h?.close();
  await sentryA?.stop();
  await sentryB?.stop();
});

describe('cards read back from Sentry', () => {
  it('sets right the cards that differ, one line each; 120 cards cost 2 requests; a second read-back changes nothing', async () => {
    for (let i = 1; i <= 120; i++) {
      expect((await h.postEvent(a, 'issue', issueOf(1000 + i))).status).toBe(202);
      sentryA.issues.set(String(1000 + i), { status: 'unresolved', substatus: 'new', assignedTo: null });
    }
    await drained();
    // Sentry moved on without telling Dispatch: a release resolved one, someone assigned a team, someone archived one.
    sentryA.issues.set('1001', { status: 'resolved', substatus: null, statusDetails: { inRelease: '2.4.1' }, assignedTo: null });
    sentryA.issues.set('1002', { status: 'unresolved', substatus: 'new', assignedTo: { type: 'team', id: '77', name: 'backend' } });
    sentryA.issues.set('1003', { status: 'ignored', substatus: 'archived_forever', assignedTo: null });
    const listings = sentryA.listings().length;

    expect(await h.dispatch.reconciler.syncSource(a.id)).toEqual({ checked: 120, fixed: 3, problem: null });
    const requests = sentryA.listings().slice(listings);
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.query.filter(([k]) => k === 'group').length)).toEqual([ISSUES_PER_REQUEST, 20]);
    for (const r of requests) {
      expect(r.query).toContainEqual(['project', '-1']);
      expect(r.authorization).toBe(`Bearer ${TOKEN_A}`);
    }
    expect(sentryB.listings()).toHaveLength(0); // server B's Sentry is not asked about server A's cards

    await drained();
    await expect.poll(() => statusOf(a.channelId, 'SYNC-1001')).toBe('resolved in release 2.4.1');
    expect(statusOf(a.channelId, 'SYNC-1003')).toBe('archived forever');
    expect(cardsOf(a.channelId, 'SYNC-1002')[0]!.fields.find((f: Payload) => f.name === 'Assigned to').value).toBe('team backend');
    expect(statusOf(a.channelId, 'SYNC-1004')).toBe('unresolved · new');
    // The line is in the card's history (cards sharing a message have no thread).
    expect(JSON.stringify(cardsOf(a.channelId, 'SYNC-1001'))).toContain('Synced from Sentry: resolved in release 2.4.1');

    const edits = h.discord.edits.length;
    expect(await h.dispatch.reconciler.syncSource(a.id)).toEqual({ checked: 120, fixed: 0, problem: null });
    await drained();
    expect(h.discord.edits).toHaveLength(edits);
    const info = shownText(await answerOf(h.discord, slash(admin(h.guild), 'info', [str('source', 'web')])));
    expect(info).toMatch(/cards read back from Sentry <t:\d+:R>: 120 checked, 0 set right/);
  });

  it("each server's source is read with its own token from its own Sentry; nothing of one shows in the other", async () => {
    expect((await h.postEvent(b, 'issue', issueOf(5001, 'OTHER-1'))).status).toBe(202);
    await drained();
    sentryB.issues.set('5001', { status: 'resolved', substatus: null, assignedTo: null });
    // Server A's Sentry has an issue 5001 too, unresolved: it must not be asked.
    sentryA.issues.set('5001', { status: 'unresolved', substatus: 'new', assignedTo: null });
    const before = { a: sentryA.listings().length, b: sentryB.listings().length };
    // Both sources are due: the periodic read-back claims each once.
    await h.dispatch.reconciler.syncAll(0);
    expect(
      sentryB
        .listings()
        .slice(before.b)
        .map((r) => r.authorization),
    ).toEqual([`Bearer ${TOKEN_B}`]);
    expect(
      sentryB
        .listings()
        .at(-1)!
        .query.filter(([k]) => k === 'group'),
    ).toEqual([['group', '5001']]);
    expect(
      sentryA
        .listings()
        .slice(before.a)
        .flatMap((r) => r.query.filter(([k, v]) => k === 'group' && v === '5001')),
    ).toEqual([]);
    await drained();
    await expect.poll(() => statusOf(b.channelId, 'OTHER-1')).toBe('resolved');
    for (const message of h.discord.messagesIn(a.channelId)) expect(JSON.stringify(message)).not.toContain('OTHER-1');
  });

  it('a route removed while Sentry is answering: nothing is recorded for it, the rest goes on', async () => {
    const extra = await h.addSource({ layout: 'card', name: 'extra', channelId: h.guild.channels[1]!.id });
    await connect(extra, sentryA, TOKEN_A);
    expect((await h.postEvent(extra, 'issue', issueOf(7001, 'GONE-1'))).status).toBe(202);
    await drained();
    sentryA.issues.set('7001', { status: 'resolved', substatus: null, assignedTo: null });
    sentryA.inject({ status: 200, delayMs: 300, apply: true });
    const reading = h.dispatch.reconciler.syncSource(extra.id);
    await new Promise((r) => setTimeout(r, 100));
    const ofRoute = async () => (await allDeliveries(h.dispatch.db)).filter((d) => d.routeId === extra.route.id).map((d) => d.seq);
    const before = await ofRoute();
    await deleteRoute(h.dispatch.db, (await routesOf(h.dispatch.db, extra.id))[0]!, Date.now());
    // Sentry's answer says the issue is resolved, but the card went with its route: nothing to set right, nothing stored for it.
    expect(await reading).toMatchObject({ checked: 1, fixed: 0, problem: null });
    // (The background purge may already have taken what the route left: nothing beyond it, then.)
    expect((await ofRoute()).filter((seq) => !before.includes(seq))).toEqual([]);
    // What the route left is purged in the background.
    await h.dispatch.worker.tidy();
    expect(await ofRoute()).toEqual([]);
  });

  it('a webhook stored while the read-back waits for its answer is not undone by the older answer', async () => {
    const race = await h.addSource({ layout: 'card', name: 'race', channelId: h.guild.channels[1]!.id });
    await connect(race, sentryA, TOKEN_A);
    expect((await h.postEvent(race, 'issue', issueOf(9001, 'RACE-1'))).status).toBe(202);
    await drained();
    // While Dispatch was away, someone assigned the issue in Sentry: the read-back is to tell the card.
    const alice = { type: 'user', id: '501', name: 'Alice' };
    sentryA.issues.set('9001', { status: 'unresolved', substatus: 'new', assignedTo: alice });
    // Sentry reads the issue for the read-back now, and its answer takes 800 ms to arrive…
    sentryA.inject({ status: 200, delayMs: 800, apply: true });
    const reading = h.dispatch.reconciler.syncSource(race.id);
    await new Promise((r) => setTimeout(r, 150));
    // …meanwhile the issue is resolved in Sentry, and Sentry's webhook for that is stored.
    sentryA.issues.set('9001', { status: 'resolved', substatus: null, assignedTo: alice });
    const resolved = issueOf(9001, 'RACE-1');
    resolved.action = 'resolved';
    resolved.data.issue = { ...resolved.data.issue, status: 'resolved', substatus: null };
    expect((await h.postEvent(race, 'issue', resolved)).status).toBe(202);
    await reading;
    await drained();
    await new Promise((r) => setTimeout(r, 1500)); // a card edit waits a second after the last
    await drained();
    Object.assign(race, await setSentryConnection(h.dispatch.db, race, null, Date.now())); // out of the tests below
    // Sentry's last word (its webhook, after the read began) stands: the older answer adds nothing.
    const card = h.discord.messagesIn(race.channelId).find((m) => JSON.stringify(m.embeds).includes('RACE-1'))!;
    const shown = [JSON.stringify(card.embeds), ...h.discord.messagesIn(card.id).map((m) => m.content ?? '')];
    expect({ status: statusOf(race.channelId, 'RACE-1'), synced: shown.some((text) => text.includes('Synced from Sentry')) }).toEqual({
      status: 'resolved',
      synced: false,
    });
  });

  it('a read-back delivered after its card route was switched to feed: the change still shows, as a feed message', async () => {
    expect((await h.postEvent(a, 'issue', issueOf(8001, 'FEED-1'))).status).toBe(202);
    await drained();
    await updateRoute(h.dispatch.db, a.route, { layout: 'feed' }, Date.now());
    const payload: SyncPayload = {
      action: 'sync',
      data: { issue: { id: '8001', shortId: 'FEED-1', title: 'Issue FEED-1', status: 'resolved', substatus: null }, reason: 'reconcile' },
    };
    const target = { routeId: a.route.id, sourceId: a.id, channelId: a.channelId, cardKey: issueCardKey('8001') };
    expect(await recordCardEvent(h.dispatch.db, target, SYNC_EVENT_TYPE, payload, Date.now())).toBe(true);
    h.dispatch.worker.kick();
    const message = await h.discord.waitForMessage((m) => (m.embeds as Payload[]).some((e) => e.author?.name === 'FEED-1'));
    expect(message.embeds[0]).toMatchObject({ title: 'Issue FEED-1', description: 'Synced from Sentry: resolved' });
    await updateRoute(h.dispatch.db, a.route, { layout: 'card' }, Date.now());
  });

  it("Sentry's rate limit stops the read-back, says so in info, and the token is not called again before the reset", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 3;
    sentryA.inject({ status: 429, body: 'too frequently', headers: { 'x-sentry-rate-limit-reset': String(reset) } });
    const outcome = await h.dispatch.reconciler.syncSource(a.id);
    expect(outcome.problem).toMatch(/^Sentry is rate-limiting the token: try again in [1-4] s \(\d+ cards left for the next read-back\)$/);
    const calls = sentryA.requests.length;
    expect((await h.dispatch.reconciler.syncSource(a.id)).problem).toMatch(/rate-limiting/);
    expect(sentryA.requests).toHaveLength(calls);
    const info = shownText(await answerOf(h.discord, slash(admin(h.guild), 'info', [str('source', 'web')])));
    expect(info).toContain('⚠️ Sentry is rate-limiting the token');
    await new Promise((r) => setTimeout(r, reset * 1000 - Date.now() + 50));
    expect((await h.dispatch.reconciler.syncSource(a.id)).problem).toBeNull();
  });

  it('two replicas reading back at once: each source is read by one of them', async () => {
    const other = new CardReconciler({
      db: h.dispatch.db,
      logger: silent,
      secrets: createSecretBox(parseKey(KEY)),
      sentryUrls: { allowInsecure: true, allowPrivate: true, timeoutMs: 5000 },
      everyMs: 600_000,
      windowMs: 7 * 86_400_000,
      checkAfterMs: 5000,
      now: Date.now,
      wake: () => h.dispatch.worker.kick(),
      pause: async () => {},
    });
    // Neither source read back lately (as after a deploy, long after the last run).
    await h.dispatch.db.run(sql`update sources set card_synced_at = null`);
    const before = { a: sentryA.listings().length, b: sentryB.listings().length };
    await Promise.all([h.dispatch.reconciler.syncAll(600_000), other.syncAll(600_000)]);
    // Source a: 2 requests (its 120+ cards) by whichever claimed it; source b: 1.
    expect(sentryA.listings().length - before.a).toBe(2);
    expect(sentryB.listings().length - before.b).toBe(1);
    await other.stop();
  });
});
