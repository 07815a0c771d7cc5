import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { findCardByKey } from '../../src/db/cards.js';
import type { Database } from '../../src/db/database.js';
import { markDelivered } from '../../src/db/deliveries.js';
import { dueHeads, jobsInBatch, queuedForChannel } from '../../src/db/queue.js';
import { claim } from '../../src/db/delivery-state/index.js';
import { createRoute, deleteRoute, RouteChannelTaken, routesOf, updateRoute } from '../../src/db/routes.js';
import { createSource, setSourceEnabled } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { asBatchId, asCardKey, asChannelId, asGuildId, asMessageId } from '../../src/ids.js';
import { deliveriesOf, sourceRow, storeEvent } from '../support/db.js';
import { startHarness, tempDir, testGuild, waitFor, type Harness } from '../support/harness.js';
import { loadFixture } from '../support/sentry.js';
import { recordCardEvent } from '../../src/cards/card-events.js';
import { ownEventType } from '../../src/own-events.js';

/**
 * What a second review across features found in the rewritten engine (each was a failing script
 * first): a layout change meeting a batch, a card edited from two channels, a move meeting an
 * answer that never came, a moved route and a stale cache, concurrent route changes, a claim left
 * behind, an outage flag that outlived the outage, a batch recorded twice.
 */

const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const assigned = loadFixture('example-app-mocks/issue.assigned.json');
const resolved = loadFixture('example-app-mocks/issue.resolved.json') as { data: { issue: Record<string, unknown> } };
const preprod = loadFixture('preprod_artifact.build_distribution_completed.json');
const issueTitled = (title: string, id = String(Math.floor(Math.random() * 1e9))) => ({
  ...issue,
  data: { issue: { ...issue.data.issue, id, title, shortId: title } },
});
const followUp = (title: string, id: string) => ({
  ...assigned,
  data: { ...(assigned.data as object), issue: issueTitled(title, id).data.issue },
});
const resolvedOf = (title: string, id: string) => ({
  ...resolved,
  data: { ...resolved.data, issue: { ...resolved.data.issue, ...issueTitled(title, id).data.issue, status: 'resolved' } },
});

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

let h: Harness | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(env: Record<string, string> = {}) {
  const guild = testGuild('Acme');
  h = await startHarness({ discord: { guilds: [guild] }, env: { BATCH_LINGER: '20ms', ...env } });
  h.guild = guild;
  h.channelId = guild.channels[0]!.id;
  return h;
}

const allDelivered = async (harness: Harness, sourceId: Parameters<typeof deliveriesOf>[1]) =>
  (await deliveriesOf(harness.dispatch.db, sourceId)).map((d) => d.status);

describe('where the rewritten engine met the other features', () => {
  it('a feed route switched to cards while a feed batch waits for its retry: the batch goes, and the channel with it', async () => {
    const h = await start({ RETRY_SCHEDULE: '300ms' });
    const source = await h.addSource({ secret: null });
    const held = gate();
    h.discord.inject(
      [
        { status: 200, answerAfter: held.opened },
        { status: 503, body: { message: 'Service Unavailable' } },
      ],
      source.channelId,
    );
    expect((await h.postEvent(source, 'issue', issueTitled('FIRST'))).status).toBe(202);
    await waitFor(() => h.discord.messageRequests(source.channelId).length >= 1, 5000, 'the first send');
    // An issue and an event with no issue (a build) wait behind it, then go as one feed batch that Discord answers 503.
    expect((await h.postEvent(source, 'issue', issueTitled('ISSUE-IN-BATCH'))).status).toBe(202);
    expect((await h.postEvent(source, 'preprod_artifact', preprod)).status).toBe(202);
    held.open();
    await waitFor(() => h.discord.messageRequests(source.channelId).length >= 2, 5000, 'the batch, refused');
    await updateRoute(h.dispatch.db, source.route, { layout: 'card' }, Date.now());
    const other = await h.addSource({ secret: null, channelId: source.channelId });
    expect((await h.postEvent(other, 'issue', issueTitled('OTHER-SOURCE'))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('OTHER-SOURCE'), 8000);
    await expect.poll(() => allDelivered(h, source.id), { timeout: 5000 }).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it("a card's edit still on its way from the channel its route left: the next edit waits for it, and the card ends up once, where the route is", async () => {
    const h = await start();
    const [a, b] = [h.guild.channels[0]!.id, h.guild.channels[1]!.id];
    const source = await h.addSource({ secret: null, layout: 'card' });
    expect((await h.postEvent(source, 'issue', issueTitled('CARD-X', '777'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(a).length === 1, 5000, 'the card in A');
    const first = h.discord.messagesIn(a)[0]!;
    await new Promise((r) => setTimeout(r, 1100)); // past the card's coalescing second
    // The follow-up's edit in A goes through, but its thread line's answer is held: the edit is still being sent.
    const held = gate();
    h.discord.inject([{ status: 200, answerAfter: held.opened }], first.id);
    expect((await h.postEvent(source, 'issue', followUp('CARD-X', '777'))).status).toBe(202);
    await waitFor(() => h.discord.heldAnswers() === 1, 5000, 'the edit in A, its thread line in flight');
    // Meanwhile the route moves to B and the issue is resolved.
    await updateRoute(h.dispatch.db, source.route, { channelId: asChannelId(b) }, Date.now());
    expect((await h.postEvent(source, 'issue', resolvedOf('CARD-X', '777'))).status).toBe(202);
    await new Promise((r) => setTimeout(r, 300));
    held.open();
    await expect.poll(() => allDelivered(h, source.id), { timeout: 10_000 }).toEqual(['delivered', 'delivered', 'delivered']);
    const card = (await findCardByKey(h.dispatch.db, source.route.id, asCardKey('issue:777')))!;
    expect(card.channelId).toBe(b);
    expect(JSON.parse(card.state).status).toBe('resolved');
    const cardsOf = (channelId: string) => h.discord.messagesIn(channelId).filter((m) => JSON.stringify(m.embeds).includes('live card'));
    expect(cardsOf(b)).toHaveLength(1);
    expect(cardsOf(a)).toHaveLength(0); // the old one is a pointer now
  });

  /**
   * Issue 28 item 10: three events failing with 503, the route moved while they wait for their
   * retry, Discord back: all three were posted in the old channel. A batch sleeping between retries
   * is waiting, not being sent, so it follows its route (a new batch, a new nonce for the new
   * channel); only a send under way when the route moves ends where it began.
   */
  it('a route moved while its events wait for a retry: they are posted where the route posts now, none in the old channel', async () => {
    const h = await start({ RETRY_SCHEDULE: '400ms', BATCH_LINGER: '0ms' });
    const source = await h.addSource({ secret: null });
    const [a, b] = [source.channelId, h.guild.channels[1]!.id];
    h.discord.inject(
      Array.from({ length: 3 }, () => ({ status: 503 })),
      a,
    );
    for (const title of ['WAIT-1', 'WAIT-2', 'WAIT-3']) expect((await h.postEvent(source, 'issue', issueTitled(title))).status).toBe(202);
    await expect.poll(async () => (await deliveriesOf(h.dispatch.db, source.id)).some((d) => d.attempts > 0), { timeout: 5000 }).toBe(true);
    await updateRoute(h.dispatch.db, source.route, { channelId: asChannelId(b) }, Date.now());
    await expect.poll(() => allDelivered(h, source.id), { timeout: 10_000 }).toEqual(['delivered', 'delivered', 'delivered']);
    const where = (title: string) => h.discord.messages.filter((m) => JSON.stringify(m.embeds).includes(title)).map((m) => m.channel_id);
    expect({ 1: where('WAIT-1'), 2: where('WAIT-2'), 3: where('WAIT-3') }).toEqual({ 1: [b], 2: [b], 3: [b] });
  });

  /**
   * The same for a card's edit: it failed with a 503 and waits for its retry, bound to a batch formed
   * for A, when the route moves to B. The queue hands it to B without that batch, but the card's
   * edit read only deliveries whose stored batch was none: it found nothing, asked to look again at
   * once, and did so forever, with B's other events stuck behind it.
   */
  it("a card's edit waiting for its retry when its route moves: the card follows the route, and the channel goes on", async () => {
    const h = await start({ RETRY_SCHEDULE: '300ms', BATCH_LINGER: '0ms' });
    const [a, b] = [h.guild.channels[0]!.id, h.guild.channels[1]!.id];
    const source = await h.addSource({ secret: null, layout: 'card' });
    expect((await h.postEvent(source, 'issue', issueTitled('CARD-R', '4242'))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(a).length === 1, 5000, 'the card in A');
    const card = h.discord.messagesIn(a)[0]!;
    await new Promise((r) => setTimeout(r, 1100)); // past the card's coalescing second
    h.discord.injectEdits(
      Array.from({ length: 50 }, () => ({ status: 503 })),
      card.id,
    );
    expect((await h.postEvent(source, 'issue', followUp('CARD-R', '4242'))).status).toBe(202);
    await expect.poll(async () => (await deliveriesOf(h.dispatch.db, source.id))[1]?.attempts ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    await updateRoute(h.dispatch.db, source.route, { channelId: asChannelId(b) }, Date.now());
    h.discord.clearInjected();
    const other = await h.addSource({ secret: null, channelId: b });
    expect((await h.postEvent(other, 'issue', issueTitled('OTHER-IN-B'))).status).toBe(202);
    await expect
      .poll(async () => ({ card: await allDelivered(h, source.id), other: await allDelivered(h, other.id) }), { timeout: 10_000 })
      .toEqual({ card: ['delivered', 'delivered'], other: ['delivered'] });
    expect((await findCardByKey(h.dispatch.db, source.route.id, asCardKey('issue:4242')))!.channelId).toBe(b);
  });

  it('a webhook right after another replica moved the route is stored for where the route is now', async () => {
    const h = await start();
    const source = await h.addSource({ secret: null });
    const b = h.guild.channels[1]!.id;
    expect((await h.postEvent(source, 'issue', issueTitled('BEFORE-MOVE'))).status).toBe(202); // caches the target
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('BEFORE-MOVE'), 5000);
    // Another replica moves the route (this process's cache of the source is not told).
    await h.dispatch.db.run(sql`update routes set channel_id = ${b} where id = ${source.route.id}`);
    expect((await h.postEvent(source, 'issue', issueTitled('AFTER-MOVE'))).status).toBe(202);
    const posted = await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('AFTER-MOVE'), 5000);
    expect(posted.channel_id).toBe(b);
  });

  it('an outage whose failing event was then removed: /healthz is ok again once nothing waits', async () => {
    const h = await start({ RETRY_SCHEDULE: '60s' });
    const source = await h.addSource({ secret: null });
    h.discord.inject([{ status: 503, body: { message: 'Service Unavailable' } }], source.channelId);
    expect((await h.postEvent(source, 'issue', issueTitled('ONE'))).status).toBe(202);
    await waitFor(() => h.dispatch.worker.health().outage, 5000, 'the outage');
    const second = await createRoute(
      h.dispatch.db,
      {
        sourceId: source.id,
        name: 'other',
        channelId: asChannelId(h.guild.channels[1]!.id),
        layout: 'feed',
        filter: '{}',
        pingRoleId: null,
        pingLevel: 'error',
        createdBy: '1',
      },
      Date.now(),
    );
    await deleteRoute(h.dispatch.db, source.route, Date.now()); // nothing waits any more
    expect(second.id).not.toBe(source.route.id);
    h.dispatch.worker.kick();
    await expect.poll(async () => ((await (await fetch(`${h.dispatch.url}/healthz`)).json()) as { status: string }).status).toBe('ok');
  });
});

describe('the repositories under concurrent changes', () => {
  async function database(): Promise<Database> {
    const dir = tempDir();
    const db = openSqlite(join(dir.path, 'd.db'));
    cleanups.push(
      () => dir.remove(),
      () => db.close(),
    );
    return db;
  }

  it('two `route add` of one source and channel at once: one is refused', async () => {
    const db = await database();
    const { source } = await createSource(
      db,
      { guildId: asGuildId('1'), channelId: asChannelId('10'), layout: 'feed', name: 's', signingSecret: null, createdBy: '1' },
      Date.now(),
    );
    const add = (name: string) =>
      createRoute(
        db,
        {
          sourceId: source.id,
          name,
          channelId: asChannelId('20'),
          layout: 'feed',
          filter: '{}',
          pingRoleId: null,
          pingLevel: 'error',
          createdBy: '1',
        },
        Date.now(),
      );
    const results = await Promise.allSettled([add('one'), add('two')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(RouteChannelTaken);
    expect((await routesOf(db, source.id)).filter((r) => r.channelId === '20')).toHaveLength(1);
  });

  it('a batch recorded twice (two replicas that both believed they held the channel) counts its events once', async () => {
    const db = await database();
    const { source, route } = await createSource(
      db,
      { guildId: asGuildId('1'), channelId: asChannelId('10'), layout: 'feed', name: 's', signingSecret: null, createdBy: '1' },
      Date.now(),
    );
    await storeEvent(db, { sourceId: source.id, eventType: 'issue.created', text: '{"a":1}', route });
    await claim(
      db,
      (await queuedForChannel(db, route.channelId, 10)).map((j) => j.seq),
      { batchId: asBatchId('b'), channelId: route.channelId },
    );
    const batch = await jobsInBatch(db, asBatchId('b'));
    await markDelivered(db, batch, asMessageId('1'), Date.now());
    await markDelivered(db, batch, asMessageId('1'), Date.now());
    expect((await sourceRow(db, source.id)).eventsDelivered).toBe(1);
  });

  it("a disabled source's waiting deliveries are skipped by the queue (none rewritten), and enabling makes them due", async () => {
    const db = await database();
    const { source, route } = await createSource(
      db,
      { guildId: asGuildId('1'), channelId: asChannelId('10'), layout: 'feed', name: 's', signingSecret: null, createdBy: '1' },
      Date.now(),
    );
    await storeEvent(db, { sourceId: source.id, eventType: 'issue.created', text: '{"a":1}', route });
    const disabled = await setSourceEnabled(db, source, false, Date.now());
    expect((await deliveriesOf(db, source.id)).map((d) => d.status)).toEqual(['pending']);
    expect(await queuedForChannel(db, route.channelId, 10)).toEqual([]);
    expect(await dueHeads(db)).toEqual([]);
    // Even one stored after (a webhook that read the source just before it was disabled) waits.
    await storeEvent(db, { sourceId: source.id, eventType: 'issue.created', text: '{"a":2}', route });
    expect(await queuedForChannel(db, route.channelId, 10)).toEqual([]);
    // Nor can a batch planned before the disable be claimed after it.
    const seqs = (await deliveriesOf(db, source.id)).map((d) => d.seq);
    expect(await claim(db, seqs, { batchId: asBatchId('late'), channelId: route.channelId })).toBe(0);
    await setSourceEnabled(db, disabled, true, Date.now());
    expect((await queuedForChannel(db, route.channelId, 10)).length).toBe(2);
  });

  /**
   * A batch left `sending` by a process that stopped, its source disabled meanwhile: its send had
   * begun, so it finishes where it began, under its nonce, as soon as Dispatch starts (not only when
   * another source's event happens to come to the same channel, as a review found); what was
   * still waiting waits for the source to be enabled.
   */
  it('a batch left sending when its source was then disabled is sent at start under its nonce, the rest waits', async () => {
    const db = await database();
    const { source, route } = await createSource(
      db,
      { guildId: asGuildId('1'), channelId: asChannelId('10'), layout: 'feed', name: 's', signingSecret: null, createdBy: '1' },
      Date.now(),
    );
    await storeEvent(db, { sourceId: source.id, eventType: 'issue.created', text: '{"a":1}', route });
    await storeEvent(db, { sourceId: source.id, eventType: 'issue.created', text: '{"a":2}', route });
    const [begun] = await deliveriesOf(db, source.id);
    expect(await claim(db, [begun!.seq], { batchId: asBatchId('left-sending'), channelId: route.channelId })).toBe(1);
    await setSourceEnabled(db, source, false, Date.now());
    const heads = await dueHeads(db);
    expect(heads.map((h) => [h.seq, h.batchId])).toEqual([[begun!.seq, 'left-sending']]);
    expect(await queuedForChannel(db, route.channelId, 10)).toEqual([]);
  });

  it("Dispatch's own event for a card whose route was removed meanwhile is neither kept nor counted as one of the source's dropped", async () => {
    const db = await database();
    const { source, route } = await createSource(
      db,
      { guildId: asGuildId('1'), channelId: asChannelId('10'), layout: 'card', name: 'web', signingSecret: null, createdBy: '1' },
      Date.now(),
    );
    await deleteRoute(db, route, Date.now());
    const target = { routeId: route.id, sourceId: source.id, channelId: route.channelId, cardKey: asCardKey('issue:1') };
    expect(await recordCardEvent(db, target, ownEventType('sync'), { action: 'sync', data: { issue: { id: '1' } } }, Date.now())).toBe(
      false,
    );
    const row = await sourceRow(db, source.id);
    const stored = await db.all(sql`select seq from events where source_id = ${source.id}`);
    expect({ dropped: row.eventsDropped, received: row.eventsReceived, stored: stored.length }).toEqual({
      dropped: 0,
      received: 0,
      stored: 0,
    });
  });
});
