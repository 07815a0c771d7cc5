import type { APIEmbed } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneOlderThan } from '../../src/db/purge.js';
import type { Source } from '../../src/db/schema.js';
import { setSourceEnabled } from '../../src/db/sources.js';
import { EMBED_LIMITS, embedLength } from '../../src/embed/limits.js';
import { deliveriesOf, eventsOf, sourceRow as readSource, storeEvent } from '../support/db.js';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, shownText, slash, str } from '../support/interactions.js';
import { loadFixture, sentryRequest, serializeLikeSentry } from '../support/sentry.js';

const base = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };

/** A distinct issue.created payload; `shortId` tells the events apart in Discord. */
function issue(shortId: string, extra: Record<string, unknown> = {}) {
  return { ...base, data: { issue: { ...base.data.issue, shortId, ...extra } } };
}

const shortIdsIn = (embeds: Record<string, unknown>[]) =>
  embeds.map((e) => /· ([A-Z0-9-]+)$/.exec((e as APIEmbed).author?.name ?? '')?.[1]);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sourceRow = (harness: Harness, source: Source) => readSource(harness.dispatch.db, source.id);
const eventRows = (harness: Harness, source: Source) => deliveriesOf(harness.dispatch.db, source.id);

describe('delivery', () => {
  it('retries Discord 5xx with backoff: five 500s, then success, make one message', async () => {
    h = await startHarness({ env: { RETRY_SCHEDULE: '10ms,10ms,10ms,10ms,10ms,10ms,10ms' } });
    const source = await h.addSource();
    h.discord.inject(Array(5).fill({ status: 500, body: { message: 'Internal Server Error', code: 0 } }), h.channelId);
    expect((await h.postEvent(source, 'issue', issue('RETRY-1'))).status).toBe(202);
    await h.discord.waitForMessage((m) => m.channel_id === h!.channelId);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.discord.messagesIn(h.channelId)).toHaveLength(1);
    expect(h.discord.messageRequests(h.channelId)).toHaveLength(6);
    const nonces = new Set(h.discord.messageRequests(h.channelId).map((r) => (r.body as { nonce: string }).nonce));
    expect(nonces.size).toBe(1); // every retry reuses the batch's nonce
    const [row] = await eventRows(h, source);
    expect(row).toMatchObject({ status: 'delivered', attempts: 5 });
    expect(await sourceRow(h, source)).toMatchObject({ eventsDelivered: 1, eventsFailed: 0 });
  });

  it('marks an event failed once it has failed until DELIVERY_DEADLINE', async () => {
    h = await startHarness({ env: { RETRY_SCHEDULE: '10ms', DELIVERY_DEADLINE: '300ms' } });
    const source = await h.addSource();
    h.discord.inject(Array(5).fill({ status: 502 }), h.channelId);
    await h.postEvent(source, 'issue', issue('GIVEUP-1'));
    await expect.poll(async () => (await eventRows(h!, source))[0]?.status, { timeout: 5000 }).toBe('failed');
    // The second try comes a second after the first failure (no hammering during an outage): past the deadline.
    expect(h.discord.messageRequests(h.channelId)).toHaveLength(2);
    expect((await sourceRow(h, source)).lastError).toMatch(/gave up after 2 attempts: Discord 502/);
  });

  it('a batch given up in part: its failed event, queued again by source retry, is posted under a nonce of its own', async () => {
    h = await startHarness({ env: { DELIVERY_DEADLINE: '4s', RETRY_SCHEDULE: '200ms', BATCH_LINGER: '50ms' } });
    const source = await h.addSource();
    let answer: () => void = () => {};
    h.discord.inject([{ status: 200, answerAfter: new Promise<void>((resolve) => (answer = resolve)) }], h.channelId);
    await h.postEvent(source, 'issue', issue('FIRST-0'));
    await waitFor(() => h!.discord.messageRequests(h!.channelId).length === 1, 5000, 'the first send, held');
    await h.postEvent(source, 'issue', issue('OLDER-1'));
    await new Promise((r) => setTimeout(r, 2000)); // OLDER-1 reaches its deadline two seconds before YOUNGER-2
    await h.postEvent(source, 'issue', issue('YOUNGER-2'));
    h.discord.inject(Array(200).fill({ status: 503 }), h.channelId);
    answer();
    // One batch: OLDER-1 is given up at its deadline while YOUNGER-2 still waits for its retry under the batch's nonce.
    await expect
      .poll(async () => (await eventRows(h!, source)).map((d) => d.status), { timeout: 15_000 })
      .toEqual(['delivered', 'failed', 'pending']);
    const [, older, younger] = await eventRows(h, source);
    expect(older!.batchId).toBe(younger!.batchId);
    h.discord.clearInjected();
    await expect
      .poll(async () => (await eventRows(h!, source)).map((d) => d.status), { timeout: 15_000 })
      .toEqual(['delivered', 'failed', 'delivered']);
    await answerOf(h.discord, slash(admin(h.guild), 'retry', [str('source', source.name)]));
    await expect
      .poll(async () => (await eventRows(h!, source)).map((d) => d.status), { timeout: 15_000 })
      .toEqual(['delivered', 'delivered', 'delivered']);
    // Not swallowed by the nonce of the message YOUNGER-2 went out in: a message shows it.
    const posted = await eventRows(h, source);
    expect(shortIdsIn(h.discord.message(posted[1]!.messageId!)!.embeds)).toEqual(['OLDER-1']);
    expect(await sourceRow(h, source)).toMatchObject({ eventsDelivered: 3, eventsFailed: 0 });
  });

  it('honours a 429 Retry-After before posting', async () => {
    h = await startHarness();
    const source = await h.addSource();
    h.discord.inject(
      [
        {
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: 1, global: false },
          headers: { 'retry-after': '1', 'x-ratelimit-scope': 'user' },
        },
      ],
      h.channelId,
    );
    await h.postEvent(source, 'issue', issue('LIMIT-1'));
    await h.discord.waitForMessage((m) => m.channel_id === h!.channelId);
    const [limited, accepted] = h.discord.messageRequests(h.channelId);
    expect(accepted!.at - limited!.at).toBeGreaterThanOrEqual(950);
    expect(h.discord.messagesIn(h.channelId)).toHaveLength(1);
  });

  it('holds a channel Discord refuses for a reason a person can fix: its events wait, none fails, and list says why', async () => {
    h = await startHarness();
    const source = await h.addSource();
    h.discord.inject([{ status: 403, body: { code: 50013, message: 'Missing Permissions' } }], h.channelId);
    for (const id of ['PERM-1', 'PERM-2', 'PERM-3']) expect((await h.postEvent(source, 'issue', issue(id))).status).toBe(202);
    await expect.poll(async () => (await sourceRow(h!, source)).lastError).toContain('50013 Missing Permissions');
    await new Promise((r) => setTimeout(r, 300));
    expect(h.discord.messageRequests(h.channelId)).toHaveLength(1); // the hold stops the others from being tried
    const row = await sourceRow(h, source);
    expect(row).toMatchObject({ eventsFailed: 0, eventsDelivered: 0 });
    expect((await eventRows(h, source)).map((e) => e.status)).toEqual(['pending', 'pending', 'pending']);
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    expect(shownText(await answerOf(h.discord, slash(admin(h.guild), 'list')))).toMatch(/on hold since <t:\d+:R>: .*; 3 events waiting/);
  });

  it('posts an identical body once, answering both with the same event id', async () => {
    h = await startHarness();
    const source = await h.addSource();
    const request = sentryRequest('issue', issue('DUP-1'), source.signingSecret!);
    const first = await h.post(source.slug, request);
    const again = await h.post(source.slug, { ...request, headers: { ...request.headers, 'request-id': 'f'.repeat(32) } });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    const ids = [(await first.json()) as { event_id: string }, (await again.json()) as { event_id: string }];
    expect(ids[1]!.event_id).toBe(ids[0]!.event_id);
    await h.discord.waitForMessage((m) => m.channel_id === h!.channelId);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.discord.messagesIn(h.channelId)).toHaveLength(1);
    expect((await sourceRow(h, source)).eventsReceived).toBe(1);
  });

  it('the same body sent several times at once (one group commit) is one event, posted once', async () => {
    h = await startHarness();
    const source = await h.addSource();
    const request = sentryRequest('issue', issue('DUP-AT-ONCE'), source.signingSecret!);
    const others = Array.from({ length: 6 }, (_, i) => sentryRequest('issue', issue(`OTHER-${i}`), source.signingSecret!));
    const answers = await Promise.all([...Array(4).fill(request), ...others].map((r) => h!.post(source.slug, r)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(202));
    const ids = await Promise.all(answers.slice(0, 4).map(async (a) => ((await a.json()) as { event_id: string }).event_id));
    expect(new Set(ids).size).toBe(1);
    await h.discord.waitForMessages(7, h.channelId);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.discord.messagesIn(h.channelId).flatMap((m) => m.embeds)).toHaveLength(7);
    expect((await sourceRow(h, source)).eventsReceived).toBe(7);
    expect((await eventsOf(h.dispatch.db, source.id)).find((e) => e.id === ids[0])!.duplicates).toBe(3);
  });

  it('packs waiting events into messages within Discord limits', async () => {
    h = await startHarness();
    const source = await h.addSource();
    // 30 events with long titles and culprits, queued while the worker is idle.
    for (let i = 0; i < 30; i++) {
      const text = serializeLikeSentry(issue(`BIG-${i}`, { title: `${'T'.repeat(300)} ${i}`, culprit: 'c'.repeat(3000) }));
      await storeEvent(h.dispatch.db, { sourceId: source.id, route: source.route, eventType: 'issue.created', text });
    }
    h.dispatch.worker.kick();
    const messages = await h.discord.waitForMessages(30, h.channelId);
    for (const message of messages) {
      expect(message.embeds.length).toBeLessThanOrEqual(EMBED_LIMITS.embedsPerMessage);
      const total = message.embeds.reduce((n, e) => n + embedLength(e as APIEmbed), 0);
      expect(total).toBeLessThanOrEqual(EMBED_LIMITS.total);
    }
    expect(messages.length).toBeGreaterThan(3); // the 6000-character limit, not only the 10-embed one, split them
    expect(shortIdsIn(messages.flatMap((m) => m.embeds))).toEqual(Array.from({ length: 30 }, (_, i) => `BIG-${i}`));
  });

  it('keeps arrival order per channel through rate limits, and separate channels independent', async () => {
    h = await startHarness({ discord: { channelRateLimit: { messages: 5, windowMs: 1000 } }, env: { BATCH_LINGER: '50ms' } });
    const first = await h.addSource();
    const second = await h.addSource({ channelId: h.guild.channels[1]!.id });
    for (let i = 0; i < 40; i++) {
      const target = i % 3 === 0 ? second : first;
      expect((await h.postEvent(target, 'issue', issue(`ORD-${String(i).padStart(2, '0')}`))).status).toBe(202);
    }
    const inFirst = await h.discord.waitForMessages(26, first.channelId, 20_000);
    const inSecond = await h.discord.waitForMessages(14, second.channelId, 20_000);
    const expected = (keep: (i: number) => boolean) =>
      Array.from({ length: 40 }, (_, i) => i)
        .filter(keep)
        .map((i) => `ORD-${String(i).padStart(2, '0')}`);
    expect(shortIdsIn(inFirst.flatMap((m) => m.embeds))).toEqual(expected((i) => i % 3 !== 0));
    expect(shortIdsIn(inSecond.flatMap((m) => m.embeds))).toEqual(expected((i) => i % 3 === 0));
  });

  it('drains a burst of 100 events to one channel in at most 12 messages', async () => {
    // A generous linger, so a slow CI machine posting the 100 requests does not split the burst.
    h = await startHarness({ discord: { channelRateLimit: { messages: 5, windowMs: 1000 } }, env: { BATCH_LINGER: '2s' } });
    const source = await h.addSource();
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => h!.postEvent(source, 'issue', issue(`BURST-${i}`))));
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const messages = await h.discord.waitForMessages(100, h.channelId, 20_000);
    expect(messages.length).toBeLessThanOrEqual(12);
    expect(messages.reduce((n, m) => n + m.embeds.length, 0)).toBe(100);
  });

  it('posts a lone event at once, without waiting for a batch', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '10s' } });
    const source = await h.addSource();
    await h.postEvent(source, 'issue', issue('ALONE-1'));
    await h.discord.waitForMessage((m) => m.channel_id === h!.channelId, 5000); // the linger is 10 s
  });

  it('prunes finished events after the retention, never pending ones', async () => {
    h = await startHarness();
    const source = await h.addSource();
    await h.postEvent(source, 'issue', issue('OLD-1'));
    await h.discord.waitForMessage((m) => m.channel_id === h!.channelId);
    await expect.poll(async () => (await eventRows(h!, source))[0]?.status).toBe('delivered');
    await setSourceEnabled(h.dispatch.db, source, false, Date.now());
    const text = '{"action":"created"}';
    await storeEvent(h.dispatch.db, { sourceId: source.id, route: source.route, eventType: 'issue.created', text }, 0);
    expect(await pruneOlderThan(h.dispatch.db, Date.now() - 60_000)).toBe(0);
    expect(await pruneOlderThan(h.dispatch.db, Date.now() + 1)).toBe(1);
    // The waiting one stays: it waits, since its source is disabled.
    expect((await eventRows(h, source)).map((e) => e.status)).toEqual(['pending']);
  });
});
