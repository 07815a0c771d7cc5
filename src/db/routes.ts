import { sql } from 'drizzle-orm';
import { fromRow, isUniqueViolation, type Database } from './database.js';
import { routes, type Route } from './schema.js';
import { targetsChanged } from './target-cache.js';

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

const toRoute = (row: Record<string, unknown>): Route => fromRow(routes, row);

/** `card`: a live card per Sentry issue, edited in place. `feed`: a message per event. */
export type Layout = 'card' | 'feed';
export const LAYOUTS: readonly Layout[] = ['card', 'feed'];

export interface NewRoute {
  sourceId: number;
  name: string;
  channelId: string;
  layout: Layout;
  filter: string;
  pingRoleId: string | null;
  pingLevel: string;
  createdBy: string;
}

export async function createRoute(db: Database, input: NewRoute, now: number): Promise<Route> {
  targetsChanged();
  try {
    const row = await db.get(sql`
      insert into routes (source_id, name, channel_id, layout, filter, ping_role_id, ping_level, created_by, created_at, updated_at)
      values (${input.sourceId}, ${input.name}, ${input.channelId}, ${input.layout}, ${input.filter}, ${input.pingRoleId}, ${input.pingLevel},
        ${input.createdBy}, ${now}, ${now})
      returning *`);
    return toRoute(row!);
  } catch (error) {
    if (isUniqueViolation(error)) throw new RouteNameTaken(input.name);
    throw error;
  }
}

/** A source's routes, the first one first. */
export async function routesOf(db: Database, sourceId: number): Promise<Route[]> {
  return (await db.all(sql`select * from routes where source_id = ${sourceId} order by id`)).map(toRoute);
}

export async function routesOfSources(db: Database, sourceIds: readonly number[]): Promise<Map<number, Route[]>> {
  const out = new Map<number, Route[]>();
  if (sourceIds.length === 0) return out;
  for (const row of await db.all(sql`select * from routes where source_id in ${sourceIds} order by id`)) {
    const route = toRoute(row);
    out.set(route.sourceId, [...(out.get(route.sourceId) ?? []), route]);
  }
  return out;
}

export async function findRoute(db: Database, sourceId: number, name: string): Promise<Route | undefined> {
  const row = await db.get(sql`select * from routes where source_id = ${sourceId} and name = ${name.trim().toLowerCase()}`);
  return row ? toRoute(row) : undefined;
}

export async function routesByIds(db: Database, ids: readonly number[]): Promise<Map<number, Route>> {
  if (ids.length === 0) return new Map();
  return new Map((await db.all(sql`select * from routes where id in ${ids}`)).map((r) => [Number(r.id), toRoute(r)]));
}

/** Names starting with what was typed; `_` and `%` are matched literally. */
export async function searchRouteNames(db: Database, sourceId: number, prefix: string, limit = 25): Promise<string[]> {
  const typed = prefix.trim().toLowerCase();
  const rows = await db.all<{ name: string }>(sql`
    select name from routes where source_id = ${sourceId} and substr(name, 1, ${typed.length}) = ${typed} order by name limit ${limit}`);
  return rows.map((r) => r.name);
}

export interface RouteChanges {
  name?: string;
  channelId?: string;
  filter?: string;
  pingRoleId?: string | null;
  pingLevel?: string;
  layout?: Layout;
  triageRoleId?: string | null;
}

/**
 * Changes a route. A new channel takes the deliveries still waiting for the old one with it, as new
 * batches (a batch's nonce was for the old channel). A new channel or layout tries card threads
 * again, should they have been refused before.
 */
export function updateRoute(db: Database, route: Route, changes: RouteChanges, now: number): Promise<Route> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const next = { ...route, ...changes };
    let row;
    try {
      row = await tx.get(sql`
        update routes set name = ${next.name}, channel_id = ${next.channelId}, filter = ${next.filter}, ping_role_id = ${next.pingRoleId},
          ping_level = ${next.pingLevel}, layout = ${next.layout}, triage_role_id = ${next.triageRoleId},
          thread_problem = ${changes.channelId !== undefined || changes.layout !== undefined ? null : route.threadProblem}, updated_at = ${now}
        where id = ${route.id} returning *`);
    } catch (error) {
      if (isUniqueViolation(error)) throw new RouteNameTaken(next.name);
      throw error;
    }
    if (changes.channelId !== undefined && changes.channelId !== route.channelId) {
      await tx.run(sql`
        update deliveries set channel_id = ${changes.channelId}, batch_id = null, summary = ${false}, next_attempt_at = ${now}
        where route_id = ${route.id} and status = 'pending'`);
      // Cards stay where they were posted; the next event about an issue starts its card in the new channel.
      await tx.run(sql`delete from cards where route_id = ${route.id}`);
    }
    return toRoute(row!);
  });
}

/** Removes a route; its waiting deliveries go with it. Resolves with how many were waiting. */
export function deleteRoute(db: Database, route: Route): Promise<number> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const waiting = await tx.get<{ n: number }>(
      sql`select count(*) as n from deliveries where route_id = ${route.id} and status = 'pending'`,
    );
    await tx.run(sql`delete from routes where id = ${route.id}`);
    return Number(waiting!.n);
  });
}
