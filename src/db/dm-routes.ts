import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { CardState } from '../cards/card-state.js';
import type { Actor } from '../cards/echo.js';
import {
  asMemberLinkId,
  asRouteId,
  type CardKey,
  type GuildId,
  type MemberLinkId,
  type RouteId,
  type SourceId,
  type UserId,
} from '../ids.js';
import { parseDmKinds } from '../people/dm-kinds.js';
import type { DmCandidate } from '../people/dm-select.js';

/**
 * A member's direct messages as routes of the sources whose events they are about (`kind = 'dm'`,
 * one per source and member, made when the first DM is due): their deliveries then go through the
 * queue like a channel's, with its budget, retries, nonces and order, to the member's DM channel.
 * Removing the route (they disconnect, leave, close their DMs; the source is deleted) drops what
 * waits there, as for any route.
 */

/** The linked members of a server who are this Sentry user and may get DMs now, with their DM route for the source if made. */
export async function dmCandidates(db: Database, source: { id: SourceId; guildId: GuildId }, sentryUserId: string): Promise<DmCandidate[]> {
  const rows = await db.all<{
    id: number;
    user_id: UserId;
    sentry_user_id: string;
    dm_kinds: string;
    sentry_base_url: string;
    sentry_org: string;
    route_id: number | null;
  }>(sql`
    select l.id, l.user_id, l.sentry_user_id, l.dm_kinds, l.sentry_base_url, l.sentry_org, r.id as route_id
    from member_links l left join routes r on r.member_link_id = l.id and r.source_id = ${source.id} and r.removed_at is null
    where l.guild_id = ${source.guildId} and l.sentry_user_id = ${sentryUserId} and l.token is not null
      and l.dm_channel_id is not null and l.dms_closed_at is null`);
  return rows.map((r) => ({
    linkId: asMemberLinkId(Number(r.id)),
    userId: r.user_id,
    sentryUserId: r.sentry_user_id,
    kinds: parseDmKinds(r.dm_kinds),
    baseUrl: r.sentry_base_url,
    org: r.sentry_org,
    ...(r.route_id !== null ? { routeId: asRouteId(Number(r.route_id)) } : {}),
  }));
}

/**
 * The DM routes of these members for a source, made where missing (only for links of the source's
 * own server, with a DM channel).
 */
export async function ensureDmRoutes(
  db: Database,
  sourceId: SourceId,
  linkIds: readonly MemberLinkId[],
  now: number,
): Promise<Map<MemberLinkId, RouteId>> {
  if (linkIds.length === 0) return new Map();
  // Two webhooks making the same one at once: the unique name keeps one (no error, which would end a Postgres transaction).
  await db.run(sql`
    insert into routes (source_id, name, channel_id, layout, filter, created_by, created_at, updated_at, kind, member_link_id)
    select s.id, 'dm:' || cast(l.id as text), l.dm_channel_id, 'feed', '{}', l.user_id, ${now}, ${now}, 'dm', l.id
    from member_links l join sources s on s.guild_id = l.guild_id
    where s.id = ${sourceId} and s.deleted_at is null and l.id in ${linkIds} and l.dm_channel_id is not null
    on conflict (source_id, name) where removed_at is null do nothing`);
  const rows = await db.all<{ id: number; member_link_id: number }>(sql`
    select id, member_link_id from routes
    where source_id = ${sourceId} and kind = 'dm' and member_link_id in ${linkIds} and removed_at is null`);
  return new Map(rows.map((r) => [asMemberLinkId(Number(r.member_link_id)), asRouteId(Number(r.id))]));
}

/** Whom the card (on one of the source's routes) says it is assigned to: what a comment's DM goes by. */
export async function cardAssignee(db: Database, sourceId: SourceId, cardKey: CardKey): Promise<Actor | undefined> {
  const row = await db.get<{ state: string }>(sql`
    select c.state from cards c join routes r on r.id = c.route_id
    where r.source_id = ${sourceId} and r.removed_at is null and c.card_key = ${cardKey} order by c.updated_at desc limit 1`);
  return row ? (JSON.parse(row.state) as CardState).assigneeId : undefined;
}

/** The DM route ids among these: for `source log`, which says "a direct message" rather than a route's name. */
export async function dmRouteIds(db: Database, routeIds: readonly RouteId[]): Promise<Set<RouteId>> {
  if (routeIds.length === 0) return new Set();
  const rows = await db.all<{ id: number }>(sql`select id from routes where id in ${[...new Set(routeIds)]} and kind = 'dm'`);
  return new Set(rows.map((r) => asRouteId(Number(r.id))));
}
