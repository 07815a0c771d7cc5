/**
 * A batch formed as a feed message, failing with a 5xx and waiting for its retry under its nonce,
 * whose route becomes a card route meanwhile: it goes again as cards. Two sources share the channel
 * (a second route in one channel), and the layout changes in the middle. Found reviewing issue 34's
 * fix (one card per issue in such a batch).
 */
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { findCardByKey } from '../../src/db/cards.js';
import { jobsOf, queuedForChannel, seqsOf } from '../../src/db/queue.js';
import { updateRoute } from '../../src/db/routes.js';
import { createSource } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { setTemplate } from '../../src/db/templates.js';
import { planNewCards } from '../../src/delivery/card-new.js';
import { asBatchId, asCardKey, asChannelId, asGuildId } from '../../src/ids.js';
import { deliveriesOf, sourceRow, storeEvent } from '../support/db.js';
import { startHarness, tempDir, testGuild, waitFor, type Harness } from '../support/harness.js';
import { loadFixture } from '../support/sentry.js';

const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const assigned = loadFixture('example-app-mocks/issue.assigned.json') as { data: Record<string, unknown> };
const issue = (title: string, id = String(Math.floor(Math.random() * 1e9))) => ({
  ...created,
  data: { issue: { ...created.data.issue, id, title, shortId: title } },
});
const followUp = (title: string, id: string) => ({ ...assigned, data: { ...assigned.data, issue: issue(title, id).data.issue } });
const titles = (embeds: unknown[]) => embeds.map((e) => (e as { title?: string }).title);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/**
 * Holds the channel's next send in flight, then fails the one after it (503): what arrives
 * meanwhile gathers behind the first into one batch, whose send fails and waits for its retry.
 */
async function failTheNextBatch(
  harness: Harness,
  channelId: string,
  first: () => Promise<unknown>,
  rest: () => Promise<void>,
  { posted = false } = {},
) {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const before = harness.discord.messageRequests(channelId).length;
  // With `posted`, Discord posts the batch and answers 503 anyway: the bot cannot know.
  const failure = posted ? { status: 503, postThenFail: 503 } : { status: 503, body: { message: 'Service Unavailable' } };
  harness.discord.inject([{ status: 200, answerAfter: opened }, failure], channelId);
  await first();
  await waitFor(() => harness.discord.messageRequests(channelId).length > before, 5000, 'the held send');
  await rest();
  open();
  await waitFor(() => harness.discord.messageRequests(channelId).length > before + 1, 5000, 'the batch, answered 503');
}

describe('a feed batch sent again as cards after its route became a card route', () => {
  it("two sources in one channel: one card per issue, and a template's failure recorded on its own source", async () => {
    const guild = testGuild('Acme');
    h = await startHarness({ discord: { guilds: [guild] }, env: { BATCH_LINGER: '20ms', RETRY_SCHEDULE: '300ms' } });
    h.guild = guild;
    const channel = guild.channels[0]!.id;
    const one = await h.addSource({ secret: null, channelId: channel, name: 'one' });
    const two = await h.addSource({ secret: null, channelId: channel, name: 'two' });
    await failTheNextBatch(
      h,
      channel,
      () => h!.postEvent(one, 'issue', issue('FIRST')),
      async () => {
        for (const [source, body] of [
          [one, issue('X-1', '777')],
          [one, followUp('X-1', '777')],
          [two, issue('Y-1', '888')],
        ] as const)
          expect((await h!.postEvent(source, 'issue', body)).status).toBe(202);
      },
    );
    expect((h.discord.messageRequests(channel).at(-1)!.body as { embeds: unknown[] }).embeds).toHaveLength(3);
    // While it waits: source two's template breaks, and both routes turn into cards.
    const template = { embed: { title: '{{ payload.data.issue.nope }}' } };
    await setTemplate(
      h.dispatch.db,
      { sourceId: two.id, routeId: null, eventPattern: 'issue.*', body: JSON.stringify(template), updatedBy: '1' },
      Date.now(),
    );
    await updateRoute(h.dispatch.db, one.route, { layout: 'card' }, Date.now());
    await updateRoute(h.dispatch.db, two.route, { layout: 'card' }, Date.now());
    await expect
      .poll(
        async () => [...(await deliveriesOf(h!.dispatch.db, one.id)), ...(await deliveriesOf(h!.dispatch.db, two.id))].map((d) => d.status),
        {
          timeout: 10_000,
        },
      )
      .toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    // One card of X (its two events folded in order) and one of Y: not a card per event.
    expect(titles(h.discord.messagesIn(channel).at(-1)!.embeds)).toEqual(['X-1', 'Y-1']);
    const x = await findCardByKey(h.dispatch.db, one.route.id, asCardKey('issue:777'));
    expect(JSON.parse(x!.state).lastUpdate.text).toMatch(/^Assigned/);
    await expect.poll(async () => (await sourceRow(h!.dispatch.db, two.id)).lastTemplateError).toMatch(/^template issue\.\* failed/);
    expect((await sourceRow(h.dispatch.db, one.id)).lastTemplateError).toBeNull();
  }, 30_000);

  it.each([
    ['answered 503', false],
    ['posted, then answered 503', true],
  ])(
    "an issue of the batch already has a card (card → feed → card), another source's issue beside it (%s): each goes to its own card, shown once",
    async (_, posted) => {
      const guild = testGuild('Acme');
      h = await startHarness({ discord: { guilds: [guild] }, env: { BATCH_LINGER: '20ms', RETRY_SCHEDULE: '300ms' } });
      h.guild = guild;
      const channel = guild.channels[0]!.id;
      const one = await h.addSource({ secret: null, channelId: channel, layout: 'card', name: 'one' });
      const two = await h.addSource({ secret: null, channelId: channel, layout: 'card', name: 'two' });
      expect((await h.postEvent(one, 'issue', issue('X-1', '777'))).status).toBe(202);
      await waitFor(() => h!.discord.messagesIn(channel).length === 1, 5000, 'card X');
      let [r1, r2] = [await updateRoute(h.dispatch.db, one.route, { layout: 'feed' }, Date.now()), two.route];
      r2 = await updateRoute(h.dispatch.db, r2, { layout: 'feed' }, Date.now());
      await failTheNextBatch(
        h,
        channel,
        () => h!.postEvent(one, 'issue', issue('FIRST')),
        async () => {
          expect((await h!.postEvent(one, 'issue', followUp('X-1', '777'))).status).toBe(202);
          expect((await h!.postEvent(two, 'issue', issue('OTHER-SOURCE-Y', '888'))).status).toBe(202);
        },
        { posted },
      );
      r1 = await updateRoute(h.dispatch.db, r1, { layout: 'card' }, Date.now());
      r2 = await updateRoute(h.dispatch.db, r2, { layout: 'card' }, Date.now());
      await expect
        .poll(
          async () =>
            [...(await deliveriesOf(h!.dispatch.db, one.id)), ...(await deliveriesOf(h!.dispatch.db, two.id))].map((d) => d.status),
          {
            timeout: 10_000,
          },
        )
        .toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
      const x = await findCardByKey(h.dispatch.db, r1.id, asCardKey('issue:777'));
      const y = await findCardByKey(h.dispatch.db, r2.id, asCardKey('issue:888'));
      // Source two's issue has its own card; source one's card is still X's, with the follow-up folded in.
      expect(JSON.parse(x!.state).title).toBe('X-1');
      expect(JSON.parse(x!.state).lastUpdate.text).toMatch(/^Assigned/);
      expect(y && JSON.parse(y.state).title).toBe('OTHER-SOURCE-Y');
      // Y's new card goes under the batch's nonce: a feed message Discord posted is answered with, not posted again.
      expect(h.discord.messagesIn(channel).filter((m) => titles(m.embeds).includes('OTHER-SOURCE-Y'))).toHaveLength(1);
    },
    30_000,
  );

  it('each event of a card keeps its own level: a fatal follow-up of a warning still notifies past quiet hours', async () => {
    const dir = tempDir();
    const db = openSqlite(join(dir.path, 'dispatch.db'));
    try {
      const channelId = asChannelId('1300000000000000010');
      const { route } = await createSource(
        db,
        { guildId: asGuildId('1300000000000000001'), channelId, layout: 'card', name: 's', signingSecret: null, createdBy: '1' },
        Date.now(),
      );
      const at = (level: string) => JSON.stringify({ ...created, data: { issue: { ...created.data.issue, id: '777', level } } });
      for (const level of ['warning', 'fatal'])
        await storeEvent(db, { sourceId: route.sourceId, eventType: 'issue.created', text: at(level), route: { id: route.id, channelId } });
      // Quiet hours all day, letting errors and worse through.
      await db.run(sql`update routes set quiet_from = 0, quiet_to = 1439, quiet_pass = 'error' where id = ${route.id}`);
      const jobs = (await jobsOf(db, seqsOf(await queuedForChannel(db, channelId, 10)))).map((j) => ({
        ...j,
        cardKey: asCardKey('issue:777'),
      }));
      const plan = await planNewCards(db, channelId, jobs, Date.now(), asBatchId('formed-earlier'));
      expect(plan.parts).toHaveLength(1);
      expect(plan.silent ?? false).toBe(false);
    } finally {
      await db.close();
      dir.remove();
    }
  });
});
