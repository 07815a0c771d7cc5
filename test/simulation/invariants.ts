import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { MISSING_ROUTE_LINE } from '../../src/routing/select-routes.js';
import { QUIET_MAX } from '../../src/schedule/digest.js';
import type { PostedMessage } from '../support/fake-discord.js';
import { liveRoutes, type Model, type SimEvent, type SimRoute } from './model.js';
import { drift } from '../../src/cards/sync.js';
import type { CardState } from '../../src/cards/state.js';
import { CARD_SYNC_WINDOW_MS, type Costs, type World } from './world.js';

/**
 * What must hold. Cheap checks after every step (whose text is where, nothing posted twice, what a
 * step cost), and the rest once everything has been healed and the clock moved on (nothing lost,
 * each event exactly where its route took it, summaries that add up, one card per issue, order).
 */

const TOKEN = /G(\d)S\d+[EI]\d+/g;
/** A step's Discord requests and database statements stay within these (a hot loop blows past them). */
const REQUESTS_PER_STEP = 80;
const STATEMENTS_PER_STEP = 4000;

type Embed = { title?: string; description?: string; footer?: { text?: string }; author?: { name?: string }; fields?: unknown[] };

const embedsOf = (message: PostedMessage) => message.embeds as Embed[];
const isCard = (embed: Embed) => embed.footer?.text?.startsWith('live card') ?? false;
const isSummary = (embed: Embed) => embed.footer?.text?.endsWith('flood summary') ?? false;
/** What is left where a card of a shared message moved down: a line pointing at it. */
const isPointer = (embed: Embed) => embed.description?.startsWith('↓') ?? false;
/** A digest: what a route's quiet hours held (or its day), per issue. */
const isDigest = (embed: Embed) => embed.footer?.text?.startsWith('dispatch.digest') ?? false;
/** An embed that shows one event, as a feed route (or a template) draws it. */
const isFeed = (embed: Embed) => !isCard(embed) && !isSummary(embed) && !isPointer(embed) && !isDigest(embed);
const has = (text: string, token: string) => new RegExp(`${token}(?!\\d)`).test(text);
/** The event tokens an embed shows, each once. */
const tokensIn = (embed: Embed) => new Set([...JSON.stringify(embed).matchAll(/G\dS\d+E\d+/g)].map((m) => m[0]));

/** Messages in a server's channels (not threads, not members' DMs), in the order Discord shows them. */
function channelMessages(world: World): PostedMessage[] {
  return world.discord.messages.filter((m) => !world.discord.threads.has(m.channel_id) && !world.discord.dmChannels.has(m.channel_id));
}

/** No text of one server's webhooks in another server's channels or threads (members' DMs: checkDirectMessages). */
export function checkServersApart(world: World): void {
  for (const message of world.discord.messages.filter((m) => !world.discord.dmChannels.has(m.channel_id))) {
    const guild = world.guilds.indexOf(world.guildOf(message.channel_id));
    const text = JSON.stringify([message.content, message.embeds]);
    for (const match of text.matchAll(TOKEN))
      expect(Number(match[1]), `${match[0]} of server ${match[1]} in a channel of server ${guild}: ${text.slice(0, 300)}`).toBe(guild);
  }
}

/**
 * An event is shown (as a feed embed) in a channel at most once per route that took it and has
 * posted there: once, unless a route removed after posting it and another of the source's routes
 * moved in later each brought their own copy.
 */
/**
 * Messages Discord posted without the bot hearing of it, whose send went again under the same
 * nonce after Discord had forgotten it (NONCE_MEMORY_MS: the channel was on hold longer than
 * that) and was posted a second time: Discord's nonce cannot tell, nor can Dispatch (seed
 * 1361369971: posted, answered 5xx, then the channel held for 11 minutes).
 */
function forgottenNonces(world: World): Set<string> {
  return new Set(
    [...world.discord.unanswered].filter((id) => {
      const first = world.discord.message(id);
      return (
        first?.nonce !== undefined &&
        world.discord.messages.some((m) => m.channel_id === first.channel_id && m.nonce === first.nonce && BigInt(m.id) > BigInt(id))
      );
    }),
  );
}

export function checkNoDoublePosts(model: Model, world: World): void {
  const seen = new Map<string, number>();
  const forgotten = forgottenNonces(world);
  for (const message of channelMessages(world).filter((m) => !forgotten.has(m.id))) {
    for (const embed of embedsOf(message).filter(isFeed)) {
      for (const token of tokensIn(embed)) {
        const key = `${message.channel_id}:${token}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
  }
  // Copies of one webhook to two sources (TwinAssign) share their token: each copy's routes may show it.
  const copiesOf = new Map<string, SimEvent[]>();
  for (const e of model.events) copiesOf.set(e.marks.event, [...(copiesOf.get(e.marks.event) ?? []), e]);
  for (const [key, count] of seen) {
    const [channelId, token] = key.split(':') as [string, string];
    const routes = (copiesOf.get(token) ?? []).flatMap((event) =>
      model.sources[event.slot]!.routes.filter((r) => event.takes.includes(r.id) && r.channels.includes(channelId)),
    );
    expect(count, `${key} posted ${count} times in one channel, by ${routes.length} routes`).toBeLessThanOrEqual(
      Math.max(1, routes.length),
    );
  }
}

/**
 * Members' DMs: each shows only events of a server its member connected in (two members of two
 * servers may be one Sentry user: neither gets the other's server's), and each event at most once.
 */
export function checkDirectMessages(model: Model, world: World): void {
  for (const [channelId, userId] of world.discord.dmChannels) {
    const guilds = new Set(model.people.filter((p) => p.userId === userId).map((p) => p.guild));
    const sent = new Map<string, number>();
    for (const message of world.discord.messagesIn(channelId)) {
      const text = JSON.stringify([message.content, message.embeds]);
      for (const match of text.matchAll(TOKEN))
        expect(guilds.has(Number(match[1])), `${match[0]} of server ${match[1]} in a DM to a member of server ${[...guilds]}`).toBe(true);
      for (const embed of embedsOf(message)) for (const token of tokensIn(embed)) sent.set(token, (sent.get(token) ?? 0) + 1);
    }
    for (const [token, count] of sent) expect(count, `${token} sent ${count} times in a DM`).toBe(1);
  }
}

/**
 * Every DM due reached its member once: an assignment in a server where they were connected, to
 * the Sentry user they are, made by someone else, unless they disconnected or their DMs closed
 * since (or its source was deleted or is disabled).
 */
function checkDirectMessagesArrived(model: Model, world: World): void {
  for (const event of model.events) {
    const source = model.sources[event.slot]!;
    if (source.id !== event.sourceId || source.deleted || !source.enabled) continue;
    for (const index of event.dmFor ?? []) {
      const person = model.people[index]!;
      if (person.stops.some((wave) => wave >= event.wave)) continue;
      const shown = world.discord.directMessagesTo(person.userId).filter((m) => has(JSON.stringify(m.embeds), event.marks.event));
      expect(shown.length, `the DM of ${event.marks.event} to person ${index}`).toBe(1);
    }
  }
}

export async function checkAfterStep(model: Model, world: World, before: Costs, step: string): Promise<void> {
  checkServersApart(world);
  checkNoDoublePosts(model, world);
  checkDirectMessages(model, world);
  // No event held outside its route's quiet hours, after any step (not only at the end: what the housekeeping lets go later was held meanwhile).
  checkNothingHeldPastQuietHours(model, world, await heldDeliveries(world), step);
  expect(world.costs.requests - before.requests, `Discord requests during ${step}`).toBeLessThanOrEqual(
    REQUESTS_PER_STEP + 4 * model.events.length,
  );
  expect(world.costs.statements - before.statements, `database statements during ${step}`).toBeLessThanOrEqual(
    STATEMENTS_PER_STEP + 40 * model.events.length,
  );
}

interface DeliveryRow {
  seq: number;
  route_id: number;
  channel_id: string;
  status: string;
  message_id: string | null;
  event_id: string;
  source_id: number;
  enabled: unknown;
}

/** The deliveries quiet hours hold (of live routes of live sources). */
async function heldDeliveries(world: World): Promise<DeliveryRow[]> {
  return world.db.all<DeliveryRow>(sql`
    select d.seq, d.route_id, d.channel_id, d.status, d.message_id, e.id as event_id, e.source_id, s.enabled
    from deliveries d join events e on e.seq = d.event_seq join sources s on s.id = e.source_id join routes r on r.id = d.route_id
    where d.status = 'quiet' and s.deleted_at is null and r.removed_at is null and r.kind = 'channel' order by d.seq`);
}

async function deliveries(world: World): Promise<DeliveryRow[]> {
  return world.db.all<DeliveryRow>(sql`
    select d.seq, d.route_id, d.channel_id, d.status, d.message_id, e.id as event_id, e.source_id, s.enabled
    from deliveries d join events e on e.seq = d.event_seq join sources s on s.id = e.source_id join routes r on r.id = d.route_id
    where s.deleted_at is null and r.removed_at is null and r.kind = 'channel' order by d.seq`);
}

/** Once healed and quiet: what must be true of everything that happened. */
export async function checkAtQuiescence(model: Model, world: World): Promise<void> {
  checkServersApart(world);
  checkNoDoublePosts(model, world);
  checkDirectMessages(model, world);
  checkDirectMessagesArrived(model, world);
  const rows = await deliveries(world);
  const byEvent = new Map<string, DeliveryRow[]>();
  for (const row of rows) byEvent.set(row.event_id, [...(byEvent.get(row.event_id) ?? []), row]);

  // Nothing lost: every delivery of an enabled source reached Discord (posted, counted in a summary, or shown in a digest).
  for (const row of rows)
    if (row.enabled)
      expect(row.status, `delivery ${row.seq} (route ${row.route_id}) of an enabled source`).toMatch(/^(delivered|collapsed|digested)$/);

  for (const event of model.events) {
    const source = model.sources[event.slot]!;
    if (source.id !== event.sourceId || source.deleted) continue;
    // Each acknowledged event has a delivery on every route that took it and still exists, and no other.
    const live = new Set(liveRoutes(source).map((r) => Number(r.id)));
    const expected = event.takes.filter((id) => live.has(Number(id))).map(Number);
    const got = (byEvent.get(event.eventId) ?? []).map((d) => Number(d.route_id));
    expect(got.sort(), `routes of ${event.marks.event} (${event.kind})`).toEqual([...new Set(expected)].sort());
    for (const row of byEvent.get(event.eventId) ?? []) {
      // …posted in a channel its route has had since.
      const route = source.routes.find((r) => Number(r.id) === Number(row.route_id))!;
      expect(route.channels, `${event.marks.event} posted outside its route's channels`).toContain(row.channel_id);
      const heldByQuiet = event.heldOn.map(Number).includes(Number(row.route_id));
      if (row.status === 'digested') {
        // Only what its route's quiet hours held, shown in a digest in a channel of that route (never in another's): where
        // the route posted when the digest was made, which a held event follows like any waiting one.
        expect(heldByQuiet, `${event.marks.event} digested on route ${row.route_id}, which did not hold it`).toBe(true);
        // (A disabled source's digest waits with its other events.)
        if (row.enabled && event.kind !== 'preprod_artifact.build_distribution_completed')
          expect(
            route.channels.some((channel) => digestsIn(world, channel).some((text) => has(text, event.marks.issue) || listedInFull(text))),
            `${event.marks.event}'s issue ${event.marks.issue} in a digest in a channel of route ${row.route_id} (${route.channels.join(', ')})`,
          ).toBe(true);
        continue;
      }
      // Held, then posted on its own: only when its route let go of what it held meanwhile (quiet hours off, or cards).
      if (heldByQuiet && row.status !== 'quiet')
        expect(
          route.releasedAt.some((at) => at >= event.at),
          `${event.marks.event} held by route ${row.route_id}, then ${row.status} without its quiet hours turned off`,
        ).toBe(true);
      // …and there only if its route pointed there when its send began, or later: a waiting event follows its route.
      if (row.message_id && !route.everCard) checkSentWhereRouteWas(world, route, event.marks.event, row.message_id);
      if (row.status === 'collapsed') {
        // Counted in a summary posted where the delivery was to go, never in another route's channel.
        expect(world.discord.message(row.message_id!)?.channel_id, `${event.marks.event}'s summary is in its channel`).toBe(row.channel_id);
        continue;
      }
      if (row.status !== 'delivered') continue;
      const message = world.discord.message(row.message_id!);
      // A card's message may be gone since (a member deleted it, or it moved down); a feed message stays.
      if (!message) continue;
      expect(message.channel_id, `${event.marks.event}'s message is in the delivery's channel`).toBe(row.channel_id);
    }
  }

  checkNothingHeldPastQuietHours(model, world, rows);
  await checkNoDigestWhileDisabled(model, world);
  await checkSilentInQuietHours(model, world);
  checkMisroutedLines(model, world);
  checkFeedCounts(model, world, rows);
  checkSummaries(world, rows);
  checkOneCardPerIssue(model, world, rows);
  checkOrder(model, world);
  const dropped = await world.db.all<{ id: number; events_dropped: number }>(sql`select id, events_dropped from sources`);
  for (const source of model.sources.filter((s) => !s.deleted)) {
    const row = dropped.find((d) => Number(d.id) === Number(source.id));
    expect(Number(row?.events_dropped), `events dropped by removed routes of slot ${source.slot}, recorded`).toBe(source.dropped);
  }
}

/**
 * A message is posted in the channel its route pointed at when the message's send began, or in one
 * it pointed at later; never where it pointed before (issue 28 item 10: events waiting out a retry
 * stayed in the channel their route had left). Discord's ids grow, so "when" is a comparison of the
 * message's id with the id issued when the route took each channel; a send held in flight across a
 * move was posted (and got its id) before it.
 */
function checkSentWhereRouteWas(world: World, route: SimRoute, token: string, messageId: string): void {
  const message = world.discord.message(messageId);
  if (!message) return;
  const sent = BigInt(message.id);
  const current = route.history.findLastIndex((h) => BigInt(h.since) < sent);
  const allowed = route.history.slice(Math.max(0, current)).map((h) => h.channel);
  expect(allowed, `${token} posted in ${message.channel_id}, which its route had left before its send began`).toContain(message.channel_id);
}

const minuteOf = (ms: number) => Math.floor((ms % 86_400_000) / 60_000);
const inWindow = (minute: number, quiet: { from: number; to: number }) =>
  quiet.from < quiet.to ? minute >= quiet.from && minute < quiet.to : minute >= quiet.from || minute < quiet.to;

/**
 * No event outlives its quiet hours held: once they are over (and the digest that follows them
 * has had its turn), nothing of an enabled source is still held. Only a route that is in quiet
 * hours now, or a disabled source (its digests wait for it), keeps held events.
 */
function checkNothingHeldPastQuietHours(model: Model, world: World, rows: DeliveryRow[], step = 'the end'): void {
  const routes = new Map(model.sources.flatMap((s) => s.routes.map((r) => [Number(r.id), { route: r, source: s }] as const)));
  for (const row of rows.filter((r) => r.status === 'quiet')) {
    const owner = routes.get(Number(row.route_id));
    if (!owner || !owner.source.enabled) continue;
    // Enabled this very instant: the digest of quiet hours that ended while it was off is made at the next look (the clock's next move).
    if (owner.source.disabledSpans.some((span) => span.until === world.clock.now())) continue;
    const quietNow = owner.route.quiet !== undefined && inWindow(minuteOf(world.clock.now()), owner.route.quiet);
    expect(quietNow, `delivery ${row.seq} still held on route ${row.route_id}, past its quiet hours (after ${step})`).toBe(true);
  }
}

/** No digest is made for a route while its source is disabled (issue 28 item 7: a week off piled up seven, posted at once). */
async function checkNoDigestWhileDisabled(model: Model, world: World): Promise<void> {
  const made = await world.db.all<{ route_id: number; created_at: number; kind: string; period_end: number }>(
    sql`select route_id, created_at, kind, period_end from digests`,
  );
  const within = (at: number) => (span: { from: number; until?: number }) =>
    span.from < at && (span.until === undefined || at < span.until);
  for (const digest of made) {
    const source = model.sources.find((s) => s.routes.some((r) => Number(r.id) === Number(digest.route_id)));
    const off = source?.disabledSpans.find(within(Number(digest.created_at)));
    expect(off, `a ${digest.kind} digest of route ${digest.route_id} made while its source was disabled`).toBeUndefined();
    // Nor made afterwards for a day that ended while it was off (its digest restarts from when it was enabled).
    if (digest.kind === 'scheduled')
      expect(
        source?.disabledSpans.find(within(Number(digest.period_end))),
        `a scheduled digest of route ${digest.route_id} for a period that ended while its source was disabled`,
      ).toBeUndefined();
  }
}

/**
 * Nothing posted with a notification inside quiet hours but what passes them: a message posted
 * (at Discord's clock, the simulated one) while its route had quiet hours on is silent unless one
 * of the events it carries passes them (`fatal`, or a metric alert going critical). Dispatch's own
 * events (digests, read-backs) never pass. Thread lines are not looked at: they follow their card.
 */
async function checkSilentInQuietHours(model: Model, world: World): Promise<void> {
  const routes = new Map(model.sources.flatMap((s) => s.routes.map((r) => [Number(r.id), r] as const)));
  const events = new Map(model.events.map((e) => [e.eventId as string, e]));
  const rows = await world.db.all<{ route_id: number; message_id: string; event_id: string }>(sql`
    select d.route_id, d.message_id, e.id as event_id from deliveries d join events e on e.seq = d.event_seq where d.message_id is not null`);
  const byMessage = new Map<string, typeof rows>();
  for (const row of rows) byMessage.set(row.message_id, [...(byMessage.get(row.message_id) ?? []), row]);
  for (const message of channelMessages(world)) {
    const carried = byMessage.get(message.id) ?? [];
    const sent = BigInt(message.id);
    const loudAllowed = carried.some((row) => {
      const route = routes.get(Number(row.route_id));
      const quiet = route?.quietHistory.findLast((q) => BigInt(q.since) < sent)?.quiet;
      if (!quiet || !inWindow(minuteOf(message.nonceAt), quiet)) return true;
      const event = events.get(row.event_id);
      return event !== undefined && (event.marks.level === 'fatal' || event.kind === 'metric_alert.critical');
    });
    if (carried.length > 0 && !loudAllowed)
      expect(
        message.flags,
        `message ${message.id} in ${message.channel_id} posted with a notification inside its route's quiet hours`,
      ).toBe(4096);
  }
}

/**
 * Each event is shown as a feed embed exactly as often as it has deliveries recorded on a message
 * that shows it: nothing posted without a record (a resend after a crash must find its nonce), and
 * no record without the message.
 */
function checkFeedCounts(model: Model, world: World, rows: DeliveryRow[]): void {
  const tokenOf = new Map<string, string>(model.events.map((e) => [e.eventId, e.marks.event]));
  // A deleted source's deliveries went with it: what it posted has no record left to match.
  const gone = new Set(
    model.events.filter((e) => model.sources[e.slot]!.id !== e.sourceId || model.sources[e.slot]!.deleted).map((e) => e.marks.event),
  );
  const orphans = orphansOf(model, world, rows);
  const shown = new Map<string, number>();
  for (const message of channelMessages(world).filter((m) => !orphans.has(m.id)))
    for (const embed of embedsOf(message).filter(isFeed))
      for (const token of tokensIn(embed)) shown.set(token, (shown.get(token) ?? 0) + 1);
  const recorded = new Map<string, number>();
  const recordedIn = new Map<string, Set<string>>();
  for (const row of rows) {
    const token = tokenOf.get(row.event_id);
    const message = row.status === 'delivered' && row.message_id ? world.discord.message(row.message_id) : undefined;
    if (!token || !message || !embedsOf(message).some((e) => isFeed(e) && has(JSON.stringify(e), token))) continue;
    recorded.set(token, (recorded.get(token) ?? 0) + 1);
    recordedIn.set(token, (recordedIn.get(token) ?? new Set()).add(message.channel_id));
  }
  // Discord posted, then answered 5xx (or never answered), and the route moved before the retry: the
  // retry follows the route (issue 28 item 10), and the first copy stays in the channel it left —
  // Dispatch cannot know it was posted. Allowed once the event is recorded elsewhere; never in the
  // channel it is recorded in (a resend there must find its nonce).
  const leftBehind = new Map<string, number>();
  for (const message of channelMessages(world).filter((m) => world.discord.unanswered.has(m.id)))
    for (const embed of embedsOf(message).filter(isFeed))
      for (const token of tokensIn(embed)) {
        const channels = recordedIn.get(token);
        if (channels && !channels.has(message.channel_id)) leftBehind.set(token, (leftBehind.get(token) ?? 0) + 1);
      }
  // A removed route's deliveries went with it too: what it had posted is shown without a record.
  // (Copies of one webhook to two sources, TwinAssign, share their token: each copy's removed routes count.)
  const unrecorded = new Map<string, number>();
  for (const e of model.events)
    unrecorded.set(
      e.marks.event,
      (unrecorded.get(e.marks.event) ?? 0) + e.takes.filter((id) => model.sources[e.slot]!.routes.find((r) => r.id === id)?.removed).length,
    );
  for (const [token, count] of shown) {
    if (gone.has(token)) continue;
    const expected = recorded.get(token) ?? 0;
    expect(count, `${token} shown ${count} times, recorded ${expected}`).toBeGreaterThanOrEqual(expected);
    expect(count, `${token} shown ${count} times, recorded ${expected}`).toBeLessThanOrEqual(
      expected + (unrecorded.get(token) ?? 0) + (leftBehind.get(token) ?? 0),
    );
  }
}

/**
 * An alert its rule sent to a route its source no longer has (or never had) was posted on the
 * first route with the line that says why; one that reached its route carries no such line.
 * (Feed embeds: a card shows the last alert's line, which later alerts change.)
 */
function checkMisroutedLines(model: Model, world: World): void {
  const misrouted = new Map(model.events.map((e) => [e.marks.event, e.misrouted === true]));
  for (const message of channelMessages(world))
    for (const embed of embedsOf(message).filter(isFeed))
      for (const token of tokensIn(embed)) {
        if (!misrouted.has(token)) continue;
        expect(JSON.stringify(embed).includes(MISSING_ROUTE_LINE), `${token}'s embed says its named route was missing`).toBe(
          misrouted.get(token),
        );
      }
}

/** A quiet-hours digest past QUIET_MAX issues lists that many and counts the rest. */
const listedInFull = (text: string) => (text.match(/• /g)?.length ?? 0) >= QUIET_MAX && /…and \d+ more/.test(text);

/** The texts of the digest messages in a channel. */
function digestsIn(world: World, channelId: string): string[] {
  return channelMessages(world)
    .filter((m) => m.channel_id === channelId && embedsOf(m).some(isDigest))
    .map((m) => JSON.stringify(m.embeds));
}

/** A summary counts exactly the deliveries collapsed into it, all of one route (its flooding route's own, never another's waiting beside them). */
function checkSummaries(world: World, rows: DeliveryRow[]): void {
  const collapsed = new Map<string, number>();
  const routesOf = new Map<string, Set<number>>();
  for (const row of rows) {
    if (row.status !== 'collapsed') continue;
    collapsed.set(row.message_id!, (collapsed.get(row.message_id!) ?? 0) + 1);
    routesOf.set(row.message_id!, (routesOf.get(row.message_id!) ?? new Set()).add(Number(row.route_id)));
  }
  for (const [messageId, routes] of routesOf) expect([...routes], `summary ${messageId} counts the events of one route`).toHaveLength(1);
  for (const [messageId, count] of collapsed) {
    const message = world.discord.message(messageId);
    expect(message, `summary message ${messageId}`).toBeDefined();
    const total = embedsOf(message!)
      .filter(isSummary)
      .reduce((n, e) => n + Number(/^\+(\d+) more/.exec(e.title ?? '')?.[1] ?? 0), 0);
    expect(total, `summary ${messageId} counts its collapsed deliveries`).toBe(count);
  }
}

/**
 * Messages Discord posted that no delivery records (it answered 5xx or never; or it answered a
 * process that stopped before it could record), in a channel a route left afterwards or whose
 * route changed layout afterwards: the send went again where its route went, or in its new layout
 * (issue 28 item 10: a waiting batch follows its route), and Dispatch cannot know the first copy
 * exists, even if the route comes back (seed 1361505757: a restart while the send was held).
 */
function orphansOf(model: Model, world: World, rows: DeliveryRow[]): Set<string> {
  const recorded = new Set(rows.map((row) => row.message_id).filter((id) => id !== null));
  const routes = model.sources.flatMap((s) => s.routes);
  const left = routes.flatMap((r) =>
    r.history.slice(0, -1).map((h, i) => ({ channel: h.channel, until: BigInt(r.history[i + 1]!.since) })),
  );
  const reformed = routes.flatMap((r) => r.reformed.flatMap((at) => r.channels.map((channel) => ({ channel, until: BigInt(at) }))));
  const forgotten = forgottenNonces(world);
  return new Set(
    channelMessages(world)
      .filter((m) => forgotten.has(m.id) || world.discord.unanswered.has(m.id) || !recorded.has(m.id))
      .filter((m) => forgotten.has(m.id) || [...left, ...reformed].some((l) => l.channel === m.channel_id && BigInt(m.id) < l.until))
      .map((m) => m.id),
  );
}

/**
 * At most one visible card per issue in a channel (an old one moved down is a pointer, not a card),
 * per source that received webhooks about it: two sources' card routes (TwinAssign sends one
 * change to both) may share a channel, each route with its card. (A batch formed as a feed message
 * and sent again as new cards once its route became a card route made one card per event of the
 * issue: seeds 1347390520 path 22, 1350430936 path 74.) Not counted: a copy left behind (see `orphansOf`).
 */
function checkOneCardPerIssue(model: Model, world: World, rows: DeliveryRow[]): void {
  const sources = new Map<string, Set<string>>();
  for (const e of model.events) sources.set(e.marks.issue, (sources.get(e.marks.issue) ?? new Set()).add(`${e.slot}:${e.sourceId}`));
  const orphans = orphansOf(model, world, rows);
  const cards = new Map<string, number>();
  for (const message of channelMessages(world).filter((m) => !orphans.has(m.id)))
    for (const embed of embedsOf(message).filter(isCard)) {
      const issue = /G\dS\d+I\d+/.exec(JSON.stringify([embed.title, embed.author]))?.[0];
      if (!issue) continue;
      const key = `${message.channel_id}:${issue}`;
      cards.set(key, (cards.get(key) ?? 0) + 1);
    }
  for (const [key, count] of cards)
    expect(count, `cards of ${key}`).toBeLessThanOrEqual(Math.max(1, sources.get(key.split(':')[1]!)?.size ?? 1));
}

/**
 * Per channel, events shown as feed embeds appear in the order they arrived (where no card route
 * ever posted: cards keep order per issue only). Events sent concurrently (one burst) have no
 * order among them: on Postgres two group commits may commit in either order.
 */
function checkOrder(model: Model, world: World): void {
  const cardChannels = new Set(model.sources.flatMap((s) => s.routes.filter((r) => r.everCard).flatMap((r) => r.channels)));
  const waveOf = new Map(model.events.map((e) => [e.marks.event, e.wave]));
  const last = new Map<string, { wave: number; token: string }>();
  for (const message of channelMessages(world).filter((m) => !cardChannels.has(m.channel_id)))
    for (const embed of embedsOf(message).filter(isFeed))
      for (const token of tokensIn(embed)) {
        const wave = waveOf.get(token);
        if (wave === undefined) continue;
        const before = last.get(message.channel_id);
        if (before)
          expect(
            wave,
            `in ${message.channel_id}, ${token} (step ${wave}) after ${before.token} (step ${before.wave})`,
          ).toBeGreaterThanOrEqual(before.wave);
        last.set(message.channel_id, { wave, token });
      }
}

/** With Discord healthy and the clock moved on, no channel sits on work that is due. */
export async function checkNothingStale(world: World, olderThanMs: number): Promise<void> {
  const now = world.clock.now();
  // A channel where an earlier delivery waits out its retry keeps its order: what is behind it waits too.
  // A disabled source's batch whose send began there goes again under its nonce all the same (it may be in Discord
  // already); not one formed for a channel its route has left since (queue.ts, BEGUN).
  const stale = await world.db.all<{ seq: number; channel_id: string }>(sql`
    select d.seq, r.channel_id from deliveries d join events e on e.seq = d.event_seq join sources s on s.id = e.source_id
      join routes r on r.id = d.route_id
    where d.status = 'pending' and (s.enabled = ${true} or (d.batch_id is not null and d.channel_id = r.channel_id)) and s.deleted_at is null and r.removed_at is null
      and r.channel_id not in (select channel_id from holds)
      and d.next_attempt_at <= ${now - olderThanMs}
      and not exists (select 1 from deliveries o join routes ro on ro.id = o.route_id
        where ro.channel_id = r.channel_id and o.status = 'pending' and o.next_attempt_at > ${now})`);
  expect(stale, 'deliveries due for a while in a healthy channel').toEqual([]);
}

/**
 * After a last read-back, every issue card of an enabled source's card route changed within
 * CARD_SYNC_WINDOW shows what Sentry has (status, substatus, assignee), whatever webhooks were
 * missed, collapsed into summaries or sent while its source was disabled. Older cards are not read
 * back (README, "Cards stay true to Sentry"): a story's days off can leave a card outside it.
 */
export async function checkCardsTrueToSentry(world: World): Promise<void> {
  const cards = await world.db.all<{ card_key: string; state: string; route_id: number }>(sql`
    select c.card_key, c.state, c.route_id from cards c join routes r on r.id = c.route_id join sources s on s.id = r.source_id
    where s.enabled = ${true} and r.layout = 'card' and c.card_key like 'issue:%'
      and c.updated_at >= ${world.clock.now() - CARD_SYNC_WINDOW_MS}`);
  for (const card of cards) {
    const id = card.card_key.slice('issue:'.length);
    const issue = world.sentry.issues.get(id);
    if (!issue) continue;
    const state = JSON.parse(card.state) as CardState;
    expect(drift(state, { id, ...issue }), `card ${card.card_key} of route ${card.route_id} against Sentry`).toEqual([]);
  }
}
