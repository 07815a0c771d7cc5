import { sql, type SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import { dropOfRoute, STEP_ROWS } from './delivery-state/index.js';
import type { RouteId, SourceId } from '../ids.js';

/**
 * What a removed route or a deleted source leaves behind, deleted a bounded step at a time in the
 * background (the command marked it gone and answered at once): its deliveries, then its events,
 * then the row itself, whose foreign keys take the small rest (cards, templates, digests).
 */

/** Events of a deleted source deleted per step (their deliveries go with them). */
const EVENTS_PER_STEP = 200;

/** Routes removed (or of a deleted source) whose leftovers are still to purge. */
export async function routesToPurge(db: Database): Promise<{ id: RouteId; sourceId: SourceId }[]> {
  const rows = await db.all<{ id: number; source_id: number }>(sql`
    select r.id, r.source_id from routes r where r.removed_at is not null
      or exists (select 1 from sources s where s.id = r.source_id and s.deleted_at is not null)
    order by r.id`);
  return rows.map((r) => ({ id: Number(r.id) as RouteId, sourceId: Number(r.source_id) as SourceId }));
}

/** Sources deleted whose events are still to purge. */
export async function sourcesToPurge(db: Database): Promise<SourceId[]> {
  const rows = await db.all<{ id: number }>(sql`select id from sources where deleted_at is not null order by id`);
  return rows.map((r) => Number(r.id) as SourceId);
}

/** What a route keeps besides its deliveries that can be many: a card route's cards, one per issue it has shown. */
const routeHoldsNothing = (routeId: SQL) => sql`not exists (select 1 from deliveries where route_id = ${routeId})
  and not exists (select 1 from cards where route_id = ${routeId})`;

/**
 * One step of purging a route: some of its deliveries (pending and quiet ones counted as dropped on
 * the source), then some of its cards, or, when none are left, the route itself if it was removed (a
 * deleted source's routes go with the source). The row goes only once nothing of it is left: its
 * cascade must not take what a step would have counted (another replica purging the same route
 * may be deleting the rows this step found gone), nor tens of thousands of cards in one statement.
 * Resolves with the rows this step deleted: 0 when done (or when another replica holds what is left).
 */
export async function purgeRouteStep(db: Database, route: { id: RouteId; sourceId: SourceId }): Promise<number> {
  const deleted = await dropOfRoute(db, route.id, route.sourceId);
  if (deleted > 0) return deleted;
  const cards = await db.run(sql`
    delete from cards where id in (select id from cards where route_id = ${route.id} limit ${STEP_ROWS})`);
  if (cards > 0) return cards;
  await db.run(sql`delete from routes where id = ${route.id} and removed_at is not null and ${routeHoldsNothing(sql`${route.id}`)}`);
  return 0;
}

/**
 * One step of purging a deleted source: some of its events, or, when none are left (and its routes
 * were purged, see `purgeRouteStep`), the source. Resolves with the rows deleted: 0 when done.
 */
export async function purgeSourceStep(db: Database, sourceId: SourceId): Promise<number> {
  const deleted = await db.run(sql`
    delete from events where seq in (select seq from events where source_id = ${sourceId} order by seq limit ${EVENTS_PER_STEP})`);
  if (deleted > 0) return deleted;
  await db.run(sql`delete from sources where id = ${sourceId} and deleted_at is not null
    and not exists (select 1 from events where source_id = ${sourceId})
    and not exists (select 1 from routes r where r.source_id = ${sourceId} and not (${routeHoldsNothing(sql`r.id`)}))`);
  return 0;
}

/** Whether anything waits to be purged: a cheap look, every few seconds. */
export async function anythingToPurge(db: Database): Promise<boolean> {
  const row = await db.get(sql`
    select 1 as found where exists (select 1 from routes where removed_at is not null)
      or exists (select 1 from sources where deleted_at is not null)`);
  return row !== undefined;
}

// ── old events past the retention ──────────────────────────────────────────────────────────────

/**
 * Deletes the events numbered in `[fromSeq, toSeq)` that have nothing left to deliver (their
 * deliveries go with them); events still pending, sending or quiet wait. `pruneOlderThan` walks the
 * old events a window of `STEP_ROWS` at a time, so no step reads far.
 */
function pruneFinished(db: Database, fromSeq: number, toSeq: number): Promise<number> {
  return db.run(sql`
    delete from events where seq >= ${fromSeq} and seq < ${toSeq}
      and not exists (select 1 from deliveries d where d.event_seq = events.seq and d.status in ('pending', 'sending', 'quiet'))`);
}

/**
 * Prunes the events received before `olderThan` that have nothing left to deliver, a window of
 * `STEP_ROWS` event numbers at a time, giving way to the event loop in between; `stop` ends it
 * early (the worker is stopping). Resolves with how many went.
 */
export async function pruneOlderThan(db: Database, olderThan: number, stop: () => boolean = () => false): Promise<number> {
  const { from, to } = await oldEventRange(db, olderThan);
  let removed = 0;
  for (let start = from; start < to && !stop(); start += STEP_ROWS) {
    removed += await pruneFinished(db, start, Math.min(start + STEP_ROWS, to));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return removed;
}

/** The range of event numbers older than `olderThan`: from the first stored to the first received at or after it. */
async function oldEventRange(db: Database, olderThan: number): Promise<{ from: number; to: number }> {
  const first = await db.get<{ seq: number | null }>(sql`select min(seq) as seq from events`);
  const bound = await db.get<{ seq: number }>(
    sql`select seq from events where received_at >= ${olderThan} order by received_at, seq limit 1`,
  );
  const from = first?.seq === null || first?.seq === undefined ? 0 : Number(first.seq);
  const to = bound
    ? Number(bound.seq)
    : Number((await db.get<{ seq: number | null }>(sql`select max(seq) as seq from events`))?.seq ?? 0) + 1;
  return { from, to };
}
