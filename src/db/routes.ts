import { sql } from 'drizzle-orm';
import { fromRow, isUniqueViolation, type Database } from './database.js';
import { routes, type Route } from './schema.js';
import { targetsChanged } from './target-cache.js';
import type { ChannelId, RoleId, RouteId, SourceId } from '../ids.js';
import { byNaturalOrder, NAME_CANDIDATES } from '../natural-order.js';
import { UserError } from '../user-error.js';

/** Route names follow the source-name rules: shown in Discord, so nothing that mentions or formats. */
export const ROUTE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
/** The first route of a source, made with it. */
export const FIRST_ROUTE_NAME = 'main';

/** The name is already used by another route of the same source. */
export class RouteNameTaken extends Error {
  constructor(readonly routeName: string) {
    super(`route name ${routeName} is taken`);
  }
}

/**
 * Another route of the same source already posts to the channel. Two routes of one source in one
 * channel would post every event they both take twice; one route there, with the filter and ping
 * it needs, says the same once.
 */
export class RouteChannelTaken extends Error {
  constructor(
    readonly routeName: string,
    readonly channelId: ChannelId,
  ) {
    super(`route ${routeName} already posts to channel ${channelId}`);
  }
}

/**
 * Refuses a channel another route of the same source posts to. Called in the transaction that
 * changes the route, after `lockRoutesOf`: two changes at once cannot both find the channel free.
 */
async function assertChannelFree(db: Database, sourceId: SourceId, channelId: ChannelId, except: RouteId | null): Promise<void> {
  const other = await db.get<{ name: string }>(sql`
    select name from routes where source_id = ${sourceId} and channel_id = ${channelId} and id <> ${except ?? 0} and removed_at is null limit 1`);
  if (other) throw new RouteChannelTaken(other.name, channelId);
}

const toRoute = (row: Record<string, unknown>): Route => fromRow(routes, row);

/** A route removed is gone for every reader at once; its leftovers are purged in the background (src/db/purge.ts). */
const LIVE = sql`removed_at is null`;
/** What route commands show and change: the routes a server's admins made, never a member's direct messages (src/people/). */
const SHOWN = sql`removed_at is null and kind = 'channel'`;

/** A route an admin made, as opposed to a member's direct messages: only these are shown, changed or clicked through. */
export const isChannelRoute = (route: Pick<Route, 'kind'>): boolean => route.kind === 'channel';

/** `card`: a live card per Sentry issue, edited in place. `feed`: a message per event. */
export type Layout = 'card' | 'feed';
export const LAYOUTS: readonly Layout[] = ['card', 'feed'];

export interface NewRoute {
  sourceId: SourceId;
  name: string;
  channelId: ChannelId;
  layout: Layout;
  filter: string;
  pingRoleId: RoleId | null;
  pingLevel: string;
  createdBy: string;
}

/** Changes to one source's routes go one at a time: its row is locked for the transaction (Postgres; SQLite has one writer anyway). */
async function lockRoutesOf(db: Database, sourceId: SourceId): Promise<void> {
  await db.run(sql`update sources set updated_at = updated_at where id = ${sourceId}`);
}

export function createRoute(db: Database, input: NewRoute, now: number): Promise<Route> {
  targetsChanged();
  return db.transaction(async (tx) => {
    await lockRoutesOf(tx, input.sourceId);
    await assertChannelFree(tx, input.sourceId, input.channelId, null);
    try {
      const row = await tx.get(sql`
        insert into routes (source_id, name, channel_id, layout, filter, ping_role_id, ping_level, created_by, created_at, updated_at)
        values (${input.sourceId}, ${input.name}, ${input.channelId}, ${input.layout}, ${input.filter}, ${input.pingRoleId}, ${input.pingLevel},
          ${input.createdBy}, ${now}, ${now})
        returning *`);
      return toRoute(row!);
    } catch (error) {
      if (isUniqueViolation(error)) throw new RouteNameTaken(input.name);
      throw error;
    }
  });
}

/** A source's routes (those its admins made), the first one first. */
export async function routesOf(db: Database, sourceId: SourceId): Promise<Route[]> {
  return (await db.all(sql`select * from routes where source_id = ${sourceId} and ${SHOWN} order by id`)).map(toRoute);
}

export async function routesOfSources(db: Database, sourceIds: readonly SourceId[]): Promise<Map<SourceId, Route[]>> {
  const out = new Map<SourceId, Route[]>();
  if (sourceIds.length === 0) return out;
  for (const row of await db.all(sql`select * from routes where source_id in ${sourceIds} and ${SHOWN} order by id`)) {
    const route = toRoute(row);
    out.set(route.sourceId, [...(out.get(route.sourceId) ?? []), route]);
  }
  return out;
}

export async function findRoute(db: Database, sourceId: SourceId, name: string): Promise<Route | undefined> {
  const row = await db.get(sql`select * from routes where source_id = ${sourceId} and name = ${name.trim().toLowerCase()} and ${SHOWN}`);
  return row ? toRoute(row) : undefined;
}

export async function routesByIds(db: Database, ids: readonly RouteId[]): Promise<Map<RouteId, Route>> {
  if (ids.length === 0) return new Map();
  const found = (await db.all(sql`select * from routes where id in ${ids} and ${LIVE}`)).map(toRoute);
  return new Map(found.map((route) => [route.id, route]));
}

/**
 * A route a command's button or form names by id (ids come back from Discord and are not trusted):
 * only a route an admin made, never a member's DM route. The caller still checks its source is the
 * server's own.
 */
export async function channelRouteById(db: Database, id: RouteId): Promise<Route | undefined> {
  const row = await db.get(sql`select * from routes where id = ${id} and ${SHOWN}`);
  return row ? toRoute(row) : undefined;
}

/**
 * Names starting with what was typed, in natural order; `_` and `%` are matched literally. Bounded
 * for autocomplete: at most NAME_CANDIDATES names are read (the first in code order, from the
 * unique index), then sorted as people count. Past that many matches the member narrows by typing.
 */
export async function searchRouteNames(db: Database, sourceId: SourceId, prefix: string, limit = 25): Promise<string[]> {
  const typed = prefix.trim().toLowerCase();
  const rows = await db.all<{ name: string }>(sql`
    select name from routes where source_id = ${sourceId} and substr(name, 1, ${typed.length}) = ${typed} and ${SHOWN}
    order by name limit ${NAME_CANDIDATES}`);
  return rows
    .map((r) => r.name)
    .sort(byNaturalOrder)
    .slice(0, limit);
}

export interface RouteChanges {
  name?: string;
  channelId?: ChannelId;
  filter?: string;
  pingRoleId?: RoleId | null;
  pingLevel?: string;
  layout?: Layout;
  triageRoleId?: RoleId | null;
  /** Quiet hours and digest (see src/schedule/route-schedule.ts); moving either restarts its `…Since`. */
  schedule?: Partial<
    Pick<Route, 'timeZone' | 'quietFrom' | 'quietTo' | 'quietPass' | 'digestEvery' | 'digestWeekday' | 'digestAt' | 'digestWhenEmpty'>
  >;
}

/**
 * Changes a route. Nothing else is written: a new channel takes the route's waiting deliveries with
 * it, since a waiting delivery goes to its route's channel as it is when its send begins (a batch
 * already being sent ends where it began); cards stay where they are until the next event about
 * their issue moves them (see the card planner). Quiet hours turned off, or a feed turned into
 * cards, let go of what they held in the background (delivery-state/ `releaseQuiet`, guarded on
 * the route as it then is). A new channel or layout tries card threads again.
 */
export function updateRoute(db: Database, route: Route, changes: RouteChanges, now: number): Promise<Route> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const next = { ...route, ...changes, ...changes.schedule };
    const moved = (keys: readonly (keyof Route)[]) => keys.some((key) => next[key] !== route[key]);
    // A digest covers from when its own schedule was set: setting the other one (or quiet-pass) does not cut it short.
    const quietSince = moved(['quietFrom', 'quietTo', 'timeZone']) ? now : route.quietSince;
    const digestSince = moved(['digestEvery', 'digestAt', 'digestWeekday', 'timeZone']) ? now : route.digestSince;
    await lockRoutesOf(tx, route.sourceId);
    if (changes.channelId !== undefined && changes.channelId !== route.channelId)
      await assertChannelFree(tx, route.sourceId, changes.channelId, route.id);
    let row;
    try {
      row = await tx.get(sql`
        update routes set name = ${next.name}, channel_id = ${next.channelId}, filter = ${next.filter}, ping_role_id = ${next.pingRoleId},
          ping_level = ${next.pingLevel}, layout = ${next.layout}, triage_role_id = ${next.triageRoleId},
          time_zone = ${next.timeZone}, quiet_from = ${next.quietFrom}, quiet_to = ${next.quietTo}, quiet_pass = ${next.quietPass},
          digest_every = ${next.digestEvery}, digest_weekday = ${next.digestWeekday}, digest_at = ${next.digestAt},
          digest_when_empty = ${next.digestWhenEmpty}, quiet_since = ${quietSince}, digest_since = ${digestSince},
          thread_problem = ${changes.channelId !== undefined || changes.layout !== undefined ? null : route.threadProblem}, updated_at = ${now}
        where id = ${route.id} and ${LIVE} returning *`);
    } catch (error) {
      if (isUniqueViolation(error)) throw new RouteNameTaken(next.name);
      throw error;
    }
    // Removed meanwhile (by another member, or on another replica).
    if (!row) throw new UserError(`The route **${route.name}** was removed meanwhile.`);
    return toRoute(row);
  });
}

/**
 * Removes a route: it is gone for commands and delivery at once, and what it left (its waiting
 * deliveries, counted on the source as dropped, never silently lost; its cards) is purged in the
 * background. Resolves with how many deliveries were waiting (up to `WAITING_CAP`, counted through
 * the queue's index).
 */
export function deleteRoute(db: Database, route: Route, now: number): Promise<number> {
  targetsChanged();
  return db.transaction(async (tx) => {
    await lockRoutesOf(tx, route.sourceId);
    const waiting = Number(
      (await tx.get<{ n: number }>(sql`
        select count(*) as n from (select 1 from deliveries where status in ('pending', 'quiet') and route_id = ${route.id}
          limit ${WAITING_CAP}) as capped`))!.n,
    );
    await tx.run(sql`update routes set removed_at = ${now} where id = ${route.id} and ${LIVE}`);
    return waiting;
  });
}

/** A removal reports at most this many waiting deliveries (it says "at least" then): counting more would hold the event loop. */
export const WAITING_CAP = 100_000;
