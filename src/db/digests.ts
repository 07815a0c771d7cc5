import { sql } from 'drizzle-orm';
import type { APIEmbed } from 'discord.js';
import { fromRow, type Database } from './database.js';
import { acceptEvents } from './events.js';
import { routes, type Route } from './schema.js';
import type { DigestEvent } from '../schedule/digest.js';
import { DIGEST_EVENT_TYPE, type DigestPayload } from '../schedule/digest-formatter.js';
import type { Period } from '../schedule/route-schedule.js';
import type { GuildId, RouteId, SourceId } from '../ids.js';

/** A route with quiet hours or a digest, and what a digest of it needs to know of its source. */
export interface ScheduledRoute {
  route: Route;
  guildId: GuildId;
}

/** Every route with quiet hours or a digest (few: a route has them only when a member set them). */
export async function scheduledRoutes(db: Database): Promise<ScheduledRoute[]> {
  const rows = await db.all<Record<string, unknown> & { guild_id: GuildId }>(sql`
    select r.*, s.guild_id from routes r join sources s on s.id = r.source_id
    where r.quiet_from is not null or r.digest_every is not null order by r.id`);
  return rows.map((row) => ({ route: fromRow(routes, row), guildId: row.guild_id }));
}

export type DigestKind = 'quiet' | 'scheduled' | 'now';

/** Whether the digest of this route, kind and period end was made (by this replica or another, before a restart or after). */
export async function digestMade(db: Database, routeId: RouteId, kind: DigestKind, periodEnd: number): Promise<boolean> {
  return (
    (await db.get(sql`select 1 as made from digests where route_id = ${routeId} and kind = ${kind} and period_end = ${periodEnd}`)) !==
    undefined
  );
}

/** Where the route's last digest of this kind ended: the next one covers from there. */
export async function lastDigestEnd(db: Database, routeId: RouteId, kind: DigestKind): Promise<number | undefined> {
  const row = await db.get<{ end: number | null }>(
    sql`select max(period_end) as end from digests where route_id = ${routeId} and kind = ${kind}`,
  );
  return row?.end === null || row?.end === undefined ? undefined : Number(row.end);
}

/** The route's deliveries still held by quiet hours that arrived before `before`: how many, and when the oldest and newest arrived. */
export async function heldBefore(
  db: Database,
  routeId: RouteId,
  before: number,
): Promise<{ count: number; oldest: number | null; newest: number | null }> {
  const row = await db.get<{ n: number; oldest: number | null; newest: number | null }>(sql`
    select count(*) as n, min(e.received_at) as oldest, max(e.received_at) as newest from deliveries d join events e on e.seq = d.event_seq
    where d.route_id = ${routeId} and d.status = 'held' and e.received_at < ${before}`);
  const time = (value: number | null | undefined) => (value === null || value === undefined ? null : Number(value));
  return { count: Number(row?.n ?? 0), oldest: time(row?.oldest), newest: time(row?.newest) };
}

/** At most this many events are read into one digest (a week of a busy route); the rest are counted. */
export const DIGEST_READ_LIMIT = 2000;

/**
 * The route's events of a period (Sentry's, not Dispatch's own), oldest first, with how many more
 * there were than were read. With `held`, also the still-held ones from before it (quiet digests
 * missed while Dispatch was down are folded into the next).
 */
export async function eventsOfPeriod(db: Database, routeId: RouteId, period: Period): Promise<{ events: DigestEvent[]; unread: number }> {
  const where = sql`d.route_id = ${routeId} and e.received_at >= ${period.start} and e.received_at < ${period.end}
    and e.event_type not like 'dispatch.%'`;
  const rows = await db.all<{ event_type: string; body: string; received_at: number; card_key: string | null }>(sql`
    select e.event_type, e.body, e.received_at, d.card_key from deliveries d join events e on e.seq = d.event_seq
    where ${where} order by d.seq limit ${DIGEST_READ_LIMIT}`);
  let unread = 0;
  if (rows.length === DIGEST_READ_LIMIT) {
    const all = await db.get<{ n: number }>(
      sql`select count(*) as n from deliveries d join events e on e.seq = d.event_seq where ${where}`,
    );
    unread = Number(all?.n ?? 0) - rows.length;
  }
  return {
    events: rows.map((r) => ({
      eventType: r.event_type,
      payload: parseBody(r.body),
      receivedAt: Number(r.received_at),
      cardKey: r.card_key,
    })),
    unread,
  };
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Links to the cards of these keys on the route (the message each is on now). */
export async function cardLinks(db: Database, routeId: RouteId, guildId: GuildId, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const rows = await db.all<{ card_key: string; channel_id: string; message_id: string }>(sql`
    select card_key, channel_id, message_id from cards where route_id = ${routeId} and card_key in ${[...new Set(keys)]}`);
  return new Map(rows.map((r) => [r.card_key, `https://discord.com/channels/${guildId}/${r.channel_id}/${r.message_id}`]));
}

export interface DigestToMake {
  route: Pick<Route, 'id' | 'sourceId' | 'channelId'>;
  kind: DigestKind;
  period: Period;
  /** How many events it counts. */
  events: number;
  /** Its messages (none when there is nothing to say). */
  embeds: APIEmbed[];
  /** Quiet digests take the held deliveries before the period's end: they are shown in it, not posted. */
  takesHeld: boolean;
}

/**
 * Makes a digest, once: its row (unique per route, kind and period end: the claim), the stored
 * `dispatch.digest` event of each of its messages (each delivered alone, under its own nonce, like
 * any event) and the held deliveries it shows marked `digested`, in one transaction. False when
 * it was made already (another replica, or before a restart): nothing is written then.
 */
export async function makeDigest(db: Database, digest: DigestToMake, now: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    const claimed = await tx.all(sql`
      insert into digests (route_id, kind, period_start, period_end, events, created_at)
      values (${digest.route.id}, ${digest.kind}, ${digest.period.start}, ${digest.period.end}, ${digest.events}, ${now})
      on conflict (route_id, kind, period_end) do nothing returning id`);
    if (claimed.length === 0) return false;
    const inputs = digest.embeds.map((embed, part) => {
      const payload: DigestPayload & { part: number; routeId: RouteId; periodEnd: number } = {
        action: 'digest',
        data: { title: embed.title ?? 'Digest', description: embed.description ?? '', kind: digest.kind },
        // Makes each part's bytes its own: two parts alike are still two events.
        part,
        routeId: digest.route.id,
        periodEnd: digest.period.end,
      };
      const text = JSON.stringify(payload);
      return {
        sourceId: digest.route.sourceId as SourceId,
        eventType: DIGEST_EVENT_TYPE,
        body: Buffer.from(text),
        text,
        routes: [{ id: digest.route.id, channelId: digest.route.channelId }],
        filteredBy: [],
      };
    });
    const stored = inputs.length > 0 ? await acceptEvents(tx, inputs, now, 0) : [];
    const ids = stored.map((result) => {
      if (!result.ok) throw result.error;
      return result.value.id;
    });
    if (ids.length > 0) {
      // Alone, never in a batch with others or counted in a flood summary: a digest is read as it is.
      await tx.run(sql`update deliveries set solo = ${true} where event_seq in (select seq from events where id in ${ids})`);
      await tx.run(sql`update digests set event_id = ${ids[0]!} where route_id = ${digest.route.id} and kind = ${digest.kind}
        and period_end = ${digest.period.end}`);
    }
    if (digest.takesHeld) {
      await tx.run(sql`
        update deliveries set status = 'digested' where route_id = ${digest.route.id} and status = 'held'
        and event_seq in (select seq from events where received_at < ${digest.period.end})`);
    }
    return true;
  });
}
