import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { startDispatch, type Dispatch } from '../../src/dispatch.js';
import { setTemplate } from '../../src/db/templates.js';
import { asSourceId } from '../../src/ids.js';
import { createLogger } from '../../src/logger.js';
import { snowflake, type FakeChannel, type FakeGuild, type PostedMessage } from '../support/fake-discord.js';
import { startHarness, TEST_DIALECT, testGuild, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, chan, messageOf, modalSubmit, shownText, slash, str, type Member } from '../support/interactions.js';
import { sentryRequest } from '../support/sentry.js';
import { payloadOf, type EventKind, type Marks } from '../simulation/payloads.js';

/**
 * Quiet hours and digests end to end, on a clock the test sets (the webhook's, the worker's and the
 * digest scheduler's), through the real discord.js client against the loopback Discord: a feed route
 * holds what does not pass and posts one digest when quiet hours end; a card route in the same
 * server keeps its cards true but silent; another server's source posts as always; a route moved
 * in the middle takes its held events along.
 */

let h: Harness;
let alice: Member;
/** The test's clock runs like the wall clock (the worker's timers are real), from where the test sets it. */
let offset = 0;
const now = () => Date.now() + offset;
const setClock = (iso: string) => void (offset = Date.parse(iso) - Date.now());
setClock('2026-03-28T21:30:00Z'); // 22:30 in Berlin (CET), the night clocks go forward
const channel = (name: string): FakeChannel => ({ id: snowflake(), name, type: 0 });
const channels = { feed: channel('feed'), cards: channel('cards'), moved: channel('moved'), daily: channel('daily') };
const other: FakeGuild = testGuild('Elsewhere');
const sources: Record<string, { slug: string; secret: string }> = {};

beforeAll(async () => {
  const guild = testGuild('Acme');
  guild.channels.push(...Object.values(channels));
  h = await startHarness({ discord: { guilds: [guild, other] }, env: { BATCH_LINGER: '20ms' }, start: { now } });
  h.guild = guild;
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = admin(guild);
});
afterAll(async () => {
  await h?.close();
});

const command = (group: string, sub: string, options: Parameters<typeof slash>[2]) =>
  answerOf(h.discord, slash(alice, sub, options, group));

async function createSource(name: string, channelId: string, layout: 'feed' | 'card'): Promise<void> {
  const opened = await command('source', 'create', [str('name', name), chan('channel', channelId), str('layout', layout)]);
  const secret = `secret-of-${name}`;
  const created = await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret }));
  sources[name] = { slug: /\/hooks\/([A-Za-z0-9_-]{32})/.exec(shownText(created))![1]!, secret };
}

let eventNo = 0;
/** A marked event about issue `issue` (`Q1`…), signed with the test's clock. */
async function send(source: string, kind: EventKind, issue: string, level: Marks['level'] = 'error', to?: Dispatch): Promise<string> {
  const marks: Marks = { event: `EV${++eventNo}X`, issue: `ISS-${issue}`, issueId: `9${issue.replace(/\D/g, '')}00${issue.length}`, level };
  const { slug, secret } = sources[source]!;
  const request = sentryRequest(kind.split('.')[0]!, payloadOf(kind, marks), secret, Math.floor(now() / 1000));
  const response = to
    ? await fetch(`${to.url}/hooks/${slug}`, { method: 'POST', body: request.body, headers: request.headers })
    : await h.post(slug, request);
  expect(response.status, await response.clone().text()).toBe(202);
  return marks.event;
}

const inChannel = (id: string) => h.discord.messages.filter((m) => m.channel_id === id);
const text = (m: PostedMessage) => JSON.stringify([m.content, m.embeds]);
const digestsIn = (id: string) => inChannel(id).filter((m) => text(m).includes('Quiet hours are over') || text(m).includes('digest'));
/** Everything that is to go out has gone (nothing pending or being sent), so moving the clock on cannot age a send in flight. */
const drained = (db = h.dispatch.db) =>
  expect
    .poll(
      async () =>
        Number((await db.get<{ n: number }>(sql`select count(*) as n from deliveries where status in ('pending', 'sending')`))!.n),
      {
        timeout: 15_000,
      },
    )
    .toBe(0);

describe('quiet hours and digests, end to end', () => {
  it('holds what does not pass, posts cards silently, and posts one digest of every held event when quiet hours end (across a DST change and a route move)', async () => {
    await createSource('web', channels.feed.id, 'feed');
    await command('route', 'add', [str('source', 'web'), str('name', 'cards'), chan('channel', channels.cards.id), str('layout', 'card')]);
    const set = await command('route', 'edit', [
      str('source', 'web'),
      str('route', 'main'),
      str('quiet', '22:00-08:00'),
      str('timezone', 'europe/berlin'),
      str('quiet-pass', 'fatal'),
    ]);
    expect(shownText(set)).toContain('quiet 22:00–08:00 Europe/Berlin');
    expect(shownText(set)).toContain('quiet now');
    await command('route', 'edit', [
      str('source', 'web'),
      str('route', 'cards'),
      str('quiet', '22:00-08:00'),
      str('timezone', 'Europe/Berlin'),
    ]);
    // Another server's source, without quiet hours: posts as it always did.
    const elsewhere = await h.addSource({ guildId: other.id, channelId: other.channels[0]!.id, layout: 'feed', secret: 'far' });
    sources.far = { slug: elsewhere.slug, secret: 'far' };

    const held = [
      await send('web', 'issue.created', 'Q1', 'warning'),
      await send('web', 'error.created', 'Q1', 'error'),
      await send('web', 'event_alert.triggered', 'Q1', 'error'),
      await send('web', 'event_alert.triggered', 'Q1', 'error'),
      await send('web', 'issue.created', 'Q2', 'error'),
    ];
    // The card route keeps its cards, posted without a notification…
    await waitFor(
      () => ['ISS-Q1', 'ISS-Q2'].every((i) => inChannel(channels.cards.id).some((m) => text(m).includes(i))),
      10_000,
      'the cards',
    );
    await drained();
    const quietCard = inChannel(channels.cards.id).find((m) => text(m).includes('ISS-Q1'))!;
    expect(quietCard.flags, 'a card posted in quiet hours does not notify').toBe(4096);
    const passing = [await send('web', 'issue.created', 'Q3', 'fatal'), await send('web', 'metric_alert.critical', 'Q4', 'warning')];
    const far = await send('far', 'issue.created', 'Q5', 'warning');
    await waitFor(() => passing.every((e) => inChannel(channels.feed.id).some((m) => text(m).includes(e))), 10_000, 'the passing events');
    await waitFor(() => inChannel(other.channels[0]!.id).some((m) => text(m).includes(far)), 10_000, "the other server's event");
    await waitFor(() => inChannel(channels.cards.id).some((m) => text(m).includes('ISS-Q3')), 10_000, 'the fatal card');
    await drained();
    // …and a fatal issue's card still notifies.
    expect(inChannel(channels.cards.id).find((m) => text(m).includes('ISS-Q3'))!.flags ?? 0).toBe(0);
    // Only what passes went out in the feed channel; nothing held leaked.
    const feed = inChannel(channels.feed.id);
    for (const event of held)
      expect(
        feed.some((m) => text(m).includes(event)),
        `${event} is held`,
      ).toBe(false);

    // Moved in the middle of the night: what it holds follows it.
    await command('route', 'edit', [str('source', 'web'), str('route', 'main'), chan('channel', channels.moved.id)]);
    const list = await command('route', 'list', [str('source', 'web')]);
    expect(shownText(list)).toContain('held for the quiet-hours digest 5');

    // Not yet: 07:59 in Berlin, after the clocks went forward (05:59 UTC).
    await drained();
    setClock('2026-03-29T05:59:00Z');
    expect(await h.dispatch.digests.tick()).toBe(0);
    // 08:00:30 CEST: quiet hours are over (9 wall-clock hours, 9 real ones, after a 23-hour day began).
    setClock('2026-03-29T06:00:30Z');
    expect(await h.dispatch.digests.tick()).toBe(2);
    expect(await h.dispatch.digests.tick(), 'made once').toBe(0);
    await waitFor(() => digestsIn(channels.moved.id).length === 1, 10_000, 'the digest');
    await drained();
    const [digest] = digestsIn(channels.moved.id);
    expect(digest!.flags ?? 0).toBe(0);
    const shown = text(digest!);
    expect(shown).toContain('Quiet hours are over');
    // Per issue: Q1 new, with its two alerts; Q2 new; each held event counted once, passing ones too.
    expect(shown).toMatch(/ISS-Q1[^•]*new · 2 alerts \(4 events\)/);
    expect(shown).toMatch(/ISS-Q2[^•]*new \(1 event\)/);
    expect(shown.match(/\[ISS-Q1\]/g), 'one line per issue').toHaveLength(1);
    expect(shown).not.toContain('ISS-Q5');
    // Nothing held was posted on its own in the feed route's channels, before or after.
    const feedMessages = [...inChannel(channels.feed.id), ...inChannel(channels.moved.id)].filter((m) => m.id !== digest!.id);
    for (const event of held) expect(feedMessages.filter((m) => text(m).includes(event))).toEqual([]);
    const statuses = await h.dispatch.db.all<{ status: string; n: number }>(
      sql`select status, count(*) as n from deliveries d join routes r on r.id = d.route_id where r.name = 'main' and r.channel_id = ${channels.moved.id} group by status order by status`,
    );
    expect(statuses.map((r) => [r.status, Number(r.n)])).toEqual([
      ['delivered', 3],
      ['digested', 5],
    ]);
    // The card route's digest went to its own channel and links each card.
    await waitFor(() => digestsIn(channels.cards.id).length === 1, 10_000, "the card route's digest");
    expect(text(digestsIn(channels.cards.id)[0]!)).toContain(
      `https://discord.com/channels/${h.guild.id}/${channels.cards.id}/${quietCard.id}`,
    );

    // Day time: everything goes out as usual.
    const day = await send('web', 'issue.created', 'Q6', 'warning');
    await waitFor(() => inChannel(channels.moved.id).some((m) => text(m).includes(day)), 10_000, 'a daytime event');
  });

  it('turning quiet hours off sends what they held at once', async () => {
    setClock('2026-03-29T21:30:00Z'); // 23:30 CEST
    const waiting = await send('web', 'issue.created', 'Q7', 'warning');
    await drained();
    expect(inChannel(channels.moved.id).some((m) => text(m).includes(waiting))).toBe(false);
    const off = await command('route', 'edit', [str('source', 'web'), str('route', 'main'), str('quiet', 'off')]);
    expect(shownText(off)).toContain('what they held goes out now');
    await waitFor(() => inChannel(channels.moved.id).some((m) => text(m).includes(waiting)), 10_000, 'the released event');
  });

  it('a daily digest: new issues by events, still open, regressed, resolved, alerts and projects; once, and late after a restart', async () => {
    await createSource('daily', channels.daily.id, 'feed');
    setClock('2026-04-01T08:00:00Z');
    const bad = await command('route', 'edit', [str('source', 'daily'), str('route', 'main'), str('digest', 'hourly')]);
    expect(shownText(bad)).toContain('`digest` is `daily 09:00`');
    const set = await command('route', 'edit', [str('source', 'daily'), str('route', 'main'), str('digest', 'daily 09:00')]);
    expect(shownText(set)).toContain('digest daily 09:00 UTC');
    const info = await command('source', 'info', [str('source', 'daily')]);
    expect(shownText(info)).toContain(`digest daily 09:00 UTC · next <t:${Date.parse('2026-04-01T09:00:00Z') / 1000}:f>`);
    setClock('2026-04-01T10:00:00Z');
    for (let i = 0; i < 3; i++) await send('daily', 'error.created', 'D1');
    await send('daily', 'issue.created', 'D1');
    await send('daily', 'issue.created', 'D2');
    await send('daily', 'issue.created', 'D3');
    await send('daily', 'issue.resolved', 'D3');
    await send('daily', 'issue.unresolved', 'D4');
    await send('daily', 'event_alert.triggered', 'D1');
    await send('daily', 'event_alert.triggered', 'D1');
    await waitFor(() => inChannel(channels.daily.id).length >= 1, 10_000, 'the events');
    await drained();

    // A template for every event of the source draws Sentry's events, not the digest.
    const [daily] = await h.dispatch.db.all<{ id: number }>(sql`select id from sources where name = 'daily'`);
    const everything = JSON.stringify({ embed: { title: 'templated', description: 'by template' } });
    await setTemplate(
      h.dispatch.db,
      { sourceId: asSourceId(Number(daily!.id)), routeId: null, eventPattern: '*', body: everything, updatedBy: 't' },
      now(),
    );
    // Dispatch stops before 09:00 and comes back at 11:30: the digest is made then, once, and says it is late.
    await h.dispatch.stop();
    setClock('2026-04-02T11:30:00Z');
    const again: Dispatch = await startDispatch(h.config, createLogger({ level: 'silent', pretty: false }), { now });
    try {
      await waitFor(() => digestsIn(channels.daily.id).length === 1, 15_000, 'the late digest');
      expect(await again.digests.tick()).toBe(0);
      await drained(again.db);
      expect(digestsIn(channels.daily.id)).toHaveLength(1);
      const shown = text(digestsIn(channels.daily.id)[0]!);
      expect(shown).toContain('Daily digest');
      expect(shown).not.toContain('templated');
      expect(shown).toContain('Late: due');
      // D1 has the most events, then D2 (one each for D2 and D3, D2 first to appear).
      expect(shown).toMatch(/New issues\*\*\\n• \*\*\[ISS-D1\].*\(6 events\)\\n• \*\*\[ISS-D2\]/);
      expect(shown).toMatch(/Still open, most events\*\*\\n• \*\*\[ISS-D1\]/);
      expect(shown).toMatch(/Regressed\*\*\\n• \*\*\[ISS-D4\]/);
      expect(shown).toMatch(/Resolved\*\*\\n• \*\*\[ISS-D3\]/);
      expect(shown).toContain('rule of ISS-D1 ×2');
      expect(shown).toMatch(/Busiest projects\*\*\\n• \w+: 10 events/);
    } finally {
      await again.stop();
    }
  });
});

describe.runIf(TEST_DIALECT === 'postgres')('digests with two replicas', () => {
  it('two replicas see the same digest due: one is posted', async () => {
    setClock('2026-04-03T10:00:00Z');
    await h.dispatch.stop().catch(() => undefined);
    // Each replica with its own spool file, as each has its own data folder.
    const replicas = await Promise.all(
      [0, 1].map((i) =>
        startDispatch(
          { ...h.config, spool: { ...h.config.spool, path: `${h.databasePath}.replica-${i}.spool` } },
          createLogger({ level: 'silent', pretty: false }),
          {
            now,
          },
        ),
      ),
    );
    try {
      await send('daily', 'issue.created', 'R1', 'error', replicas[1]);
      // Their first look (at start) is over: the next one is at the new time.
      await Promise.all(replicas.map((r) => r.digests.tick()));
      setClock('2026-04-04T09:00:05Z');
      // What the start's look made (yesterday's digest, late) has gone out before counting.
      await drained(replicas[0]!.db);
      const before = digestsIn(channels.daily.id).length;
      const claimedAt = now();
      const made = await Promise.all(replicas.map((r) => r.digests.tick()));
      // What the two replicas finished between them: one digest per route and kind. Two claims of
      // one digest (a night's quiet digest and a left-over one beside it, made by each replica) would
      // show as two rows of one route's quiet digests.
      const finished = await replicas[0]!.db.all<{ name: string; kind: string }>(sql`
        select s.name, d.kind from digests d join routes r on r.id = d.route_id join sources s on s.id = r.source_id
        where d.done_at >= ${claimedAt} order by s.name, d.kind`);
      expect(finished).toContainEqual({ name: 'daily', kind: 'scheduled' });
      expect(finished.map((d) => `${d.name}:${d.kind === 'leftover' ? 'quiet' : d.kind}`)).toEqual([
        ...new Set(finished.map((d) => `${d.name}:${d.kind === 'leftover' ? 'quiet' : d.kind}`)),
      ]);
      expect(made.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(finished.length);
      expect(await Promise.all(replicas.map((r) => r.digests.tick()))).toEqual([0, 0]);
      await waitFor(() => digestsIn(channels.daily.id).length === before + 1, 15_000, 'the digest');
      await drained(replicas[0]!.db);
      expect(digestsIn(channels.daily.id)).toHaveLength(before + 1);
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
    }
  });
});
