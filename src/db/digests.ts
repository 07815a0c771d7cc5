import { sql } from 'drizzle-orm';
import type { APIEmbed } from 'discord.js';
import { fromRow, type Database } from './database.js';
import { acceptEvents } from './events.js';
import { digests, routes, type DigestRow, type Route } from './schema.js';
import { DIGEST_EVENT_TYPE, type DigestPayload } from '../schedule/digest-formatter.js';
import type { Period } from '../schedule/route-schedule.js';
import type { DigestId, GuildId, RouteId, SourceId } from '../ids.js';

/**
 * Digests, made once each, in steps a restart can finish: a digest's row is its claim (unique per
 * route, kind and period end), written *before* anything is drawn; a quiet-hours digest then takes
 * the deliveries it shows (delivery-state/ `digestQuiet`); it is drawn from bounded reads
 * (digest-read.ts); and its messages are stored as `dispatch.digest` events with `done_at`, in one
 * transaction. A digest a crash left unfinished is finished later, and given up after a few tries,
 * so no digest can make the same heavy work due on every start.
 */

/** A route with quiet hours or a digest, and what a digest of it needs to know of its source. */
export interface ScheduledRoute {
  route: Route;
  guildId: GuildId;
}

/**
 * Every live route of an enabled source with quiet hours or a digest (few: a route has them only
 * when a member set them). A disabled source makes no digests: none pile up while it is off.
 */
export async function scheduledRoutes(db: Database): Promise<ScheduledRoute[]> {
  const rows = await db.all<Record<string, unknown> & { guild_id: GuildId }>(sql`
    select r.*, s.guild_id from routes r join sources s on s.id = r.source_id
    where (r.quiet_from is not null or r.digest_every is not null) and r.removed_at is null and s.enabled and s.deleted_at is null
    order by r.id`);
  return rows.map((row) => ({ route: fromRow(routes, row), guildId: row.guild_id }));
}

export type DigestKind = 'quiet' | 'leftover' | 'scheduled' | 'now';

/** Whether the digest of this route, kind and period end was claimed (by this replica or another, before a restart or after). */
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

/**
 * The route's quiet-held deliveries: whether there are any, when the oldest arrived, and whether a
 * quiet digest of the route is still being made (it will take them).
 */
export async function quietHeld(db: Database, routeId: RouteId): Promise<{ oldest: number | null; digestUnderway: boolean }> {
  const oldest = await db.get<{ received_at: number }>(sql`
    select e.received_at from events e where e.seq = (select d.event_seq from deliveries d where d.status = 'quiet' and d.route_id = ${routeId}
      order by d.seq limit 1)`);
  const underway = await db.get(
    sql`select 1 as found from digests where route_id = ${routeId} and kind in ('quiet', 'leftover') and done_at is null`,
  );
  return { oldest: oldest ? Number(oldest.received_at) : null, digestUnderway: underway !== undefined };
}

/**
 * Claims a digest: its row, or nothing when it was claimed already. A quiet-hours digest is claimed
 * only while no other of the route is underway (two claims would split what quiet hours held): the
 * route's row is locked for the check (Postgres; SQLite has one writer).
 */
export function claimDigest(
  db: Database,
  claim: { routeId: RouteId; kind: DigestKind; period: Period },
  now: number,
): Promise<DigestRow | undefined> {
  return db.transaction(async (tx) => {
    if (claim.kind === 'quiet' || claim.kind === 'leftover') {
      if (tx.dialect === 'postgres') await tx.all(sql`select id from routes where id = ${claim.routeId} for update`);
      const underway = await tx.get(
        sql`select 1 as found from digests where route_id = ${claim.routeId} and kind in ('quiet', 'leftover') and done_at is null`,
      );
      if (underway) return undefined;
    }
    const row = await tx.get(sql`
      insert into digests (route_id, kind, period_start, period_end, created_at)
      values (${claim.routeId}, ${claim.kind}, ${claim.period.start}, ${claim.period.end}, ${now})
      on conflict (route_id, kind, period_end) do nothing returning *`);
    return row ? fromRow(digests, row) : undefined;
  });
}

/** Digests claimed before `claimedBefore` and never finished (their maker stopped): the scheduler finishes them. */
export async function unfinishedDigests(db: Database, claimedBefore: number): Promise<DigestRow[]> {
  const rows = await db.all(sql`select * from digests where done_at is null and created_at < ${claimedBefore} order by id`);
  return rows.map((row) => fromRow(digests, row));
}

/** Counts a try at drawing a digest; resolves with how many there have been. */
export async function countAttempt(db: Database, id: DigestId): Promise<number> {
  const row = await db.get<{ attempts: number }>(sql`update digests set attempts = attempts + 1 where id = ${id} returning attempts`);
  return Number(row?.attempts ?? Number.POSITIVE_INFINITY);
}

/** A route's digest as it goes out: for whom, and what it says. */
export interface DigestToStore {
  digest: DigestRow;
  route: Pick<Route, 'id' | 'sourceId'>;
  /** How many events it counts. */
  events: number;
  /** Its messages (none when there is nothing to say). */
  embeds: APIEmbed[];
}

/**
 * Finishes a digest, once: its messages stored as `dispatch.digest` events (each delivered alone,
 * under its own nonce, like any event) and its row marked done, in one transaction, only if no one
 * finished it first (another replica finishing the same left-over digest). False when it was.
 */
export function finishDigest(db: Database, made: DigestToStore, now: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    const done = await tx.run(
      sql`update digests set done_at = ${now}, events = ${made.events} where id = ${made.digest.id} and done_at is null`,
    );
    if (done === 0) return false;
    const inputs = made.embeds.map((embed, part) => {
      const payload: DigestPayload & { part: number; routeId: RouteId; periodEnd: number; digestId: DigestId } = {
        action: 'digest',
        data: {
          title: embed.title ?? 'Digest',
          description: embed.description ?? '',
          kind: made.digest.kind === 'leftover' ? 'quiet' : made.digest.kind,
        },
        // Makes each part's bytes its own: two parts alike are still two events.
        part,
        routeId: made.route.id,
        periodEnd: made.digest.periodEnd,
        digestId: made.digest.id,
      };
      const text = JSON.stringify(payload);
      return {
        sourceId: made.route.sourceId as SourceId,
        eventType: DIGEST_EVENT_TYPE,
        body: Buffer.from(text),
        text,
        routes: [{ id: made.route.id }],
        filteredBy: [],
        // Alone, never in a batch with others or counted in a flood summary: a digest is read as it is.
        solo: true,
      };
    });
    const stored = inputs.length > 0 ? await acceptEvents(tx, inputs, now, 0) : [];
    const ids = stored.map((result) => {
      if (!result.ok) throw result.error;
      return result.value.id;
    });
    if (ids.length > 0) await tx.run(sql`update digests set event_id = ${ids[0]!} where id = ${made.digest.id}`);
    return true;
  });
}

/** Links to the cards of these keys on the route (the message each is on now). */
export async function cardLinks(db: Database, routeId: RouteId, guildId: GuildId, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const rows = await db.all<{ card_key: string; channel_id: string; message_id: string }>(sql`
    select card_key, channel_id, message_id from cards where route_id = ${routeId} and card_key in ${[...new Set(keys)]}`);
  return new Map(rows.map((r) => [r.card_key, `https://discord.com/channels/${guildId}/${r.channel_id}/${r.message_id}`]));
}
