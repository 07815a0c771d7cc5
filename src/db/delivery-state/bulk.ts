import { sql, type SQL } from 'drizzle-orm';
import type { Database } from '../database.js';
import type { DeliverySeq, DigestId, EventSeq, RouteId, SourceId } from '../../ids.js';
import { seqList, STEP_ROWS, statusIs } from './common.js';
import { fail } from './send.js';
import type { DeliveryStatus } from './states.js';

// ── commands and background steps, each bounded ───────────────────────────────────────────────────

/** Deliveries of these routes, a bounded statement's worth: `STEP_ROWS` of the given status, oldest first. */
const selectSome = (routeIds: SQL, status: DeliveryStatus, extra: SQL = sql``) =>
  sql`select seq from deliveries where status = ${status} and route_id in ${routeIds} ${extra} order by route_id, seq limit ${STEP_ROWS}`;
/** The same, as a subquery (`seq in …`). */
const someOf = (routeIds: SQL, status: DeliveryStatus, extra: SQL = sql``) => sql`(${selectSome(routeIds, status, extra)})`;

const routesOfSource = (sourceId: SourceId) => sql`(select id from routes where source_id = ${sourceId})`;

/**
 * Another delivery of this one's batch was posted (or collapsed) under the batch's nonce: the batch
 * failed only in part (some of it past its deadline, a stuck head set aside) and the rest went.
 */
const batchWentWithoutIt = sql`exists (select 1 from deliveries o where o.batch_id = deliveries.batch_id and o.status in ('delivered', 'collapsed'))`;

/**
 * failed → pending, `STEP_ROWS` at a time (`/dispatch source retry`): resolves with how many moved this
 * step. A delivery keeps its batch (and nonce) when the whole batch failed: if Discord did post it,
 * the retry is answered with that message. Not when the rest of its batch was posted without it:
 * under that nonce Discord would answer with a message that does not show it.
 */
export function requeueFailed(db: Database, sourceId: SourceId, now: number): Promise<number> {
  return db.run(sql`
    update deliveries set status = 'pending', attempts = 0, next_attempt_at = ${now}, delivered_at = null, render_fallback = 0,
      batch_id = case when ${batchWentWithoutIt} then null else batch_id end,
      summary = case when ${batchWentWithoutIt} then ${false} else summary end
    where seq in ${someOf(routesOfSource(sourceId), 'failed')} and ${statusIs('failed')}`);
}

/**
 * Pending deliveries waiting out a retry become due now, `STEP_ROWS` at a time: of one source
 * (`/dispatch source retry`), or of every channel not on hold (Discord answers again after an
 * outage: only those that failed before). Each step takes the next window of the whole walk, in
 * order: a step that looked for the rows not yet due walked past all the rows already made due,
 * so a retry of 604,800 waiting deliveries took 1,209 steps of ever longer reads (99 s). The route
 * is named outside the window too: with the status alone SQLite walked every pending delivery by
 * the queue index to find the window's 200 (36 ms a step with 600,000 waiting, 108 s in all).
 */
export async function dueNow(
  db: Database,
  scope: { sourceId: SourceId } | 'every-retry',
  now: number,
  pause: () => Promise<void>,
): Promise<number> {
  const routes = await db.all<{ id: number }>(
    scope === 'every-retry'
      ? sql`select id from routes where channel_id not in (select channel_id from holds)
          and exists (select 1 from deliveries d where d.status = 'pending' and d.route_id = routes.id)`
      : sql`select id from routes where source_id = ${scope.sourceId}`,
  );
  const retried = scope === 'every-retry' ? sql` and attempts > 0` : sql``;
  let total = 0;
  for (const { id } of routes) {
    for (let after = 0; ; ) {
      // Read once and named by seq: a window read again inside the update could take in a delivery
      // put back to pending meanwhile and push out its last, which the walk would then go past.
      const window = await db.all<{ seq: number }>(
        sql`select seq from deliveries where status = 'pending' and route_id = ${id} and seq > ${after} order by seq limit ${STEP_ROWS}`,
      );
      if (window.length === 0) break;
      const seqs = window.map((row) => Number(row.seq) as DeliverySeq);
      total += await db.run(sql`
        update deliveries set next_attempt_at = ${now}
        where seq in ${seqList(seqs)} and ${statusIs('pending')} and route_id = ${id} and next_attempt_at > ${now}${retried}`);
      after = seqs.at(-1)!;
      await pause();
    }
  }
  return total;
}

/**
 * quiet → pending, `STEP_ROWS` at a time, for routes that no longer hold: quiet hours turned off,
 * or a card route now (which makes cards of them, muted: quietly). Guarded on the route as it is
 * in this very statement: quiet hours turned on again meanwhile keep them for the next digest.
 */
export function releaseQuiet(db: Database, now: number): Promise<number> {
  const releasing = sql`(select id from routes where quiet_from is null or layout = 'card')`;
  return db.run(sql`
    update deliveries set status = 'pending', next_attempt_at = ${now},
      muted = muted or (select r.layout = 'card' from routes r where r.id = deliveries.route_id)
    where seq in ${someOf(releasing, 'quiet')} and ${statusIs('quiet')}
      and route_id in ${releasing}`);
}

/**
 * quiet → digested, `STEP_ROWS` at a time: the deliveries a quiet-hours digest takes (it is drawn
 * from exactly these): those of events that arrived before its period ended (`beforeEventSeq`, the
 * first event received at or after its end). A digest made late, in the next quiet hours, leaves
 * what those hold to their own digest.
 */
export function digestQuiet(db: Database, routeId: RouteId, digestId: DigestId, beforeEventSeq: EventSeq): Promise<number> {
  return db.run(sql`
    update deliveries set status = 'digested', digest_id = ${digestId}
    where seq in ${someOf(sql`(${routeId})`, 'quiet', sql`and event_seq < ${beforeEventSeq}`)} and ${statusIs('quiet')}`);
}

/**
 * Pending deliveries of channels on hold whose events arrived before `olderThan` give up,
 * `STEP_ROWS` at a time: the hold was never fixed. `olderThanSeq` is the first event seq received
 * at or after that time (events are numbered as they arrive), so no event row is read.
 */
export async function failHeldTooLong(
  tx: Database,
  olderThanSeq: EventSeq,
  now: number,
): Promise<{ seq: DeliverySeq; sourceId: SourceId }[]> {
  const held = sql`(select id from routes where channel_id in (select channel_id from holds))`;
  const rows = await tx.all<{ seq: number }>(selectSome(held, 'pending', sql`and event_seq < ${olderThanSeq}`));
  return fail(
    tx,
    rows.map((r) => Number(r.seq) as DeliverySeq),
    'held for longer than EVENT_RETENTION: the channel was never fixed',
    now,
  );
}

/**
 * Deletes `STEP_ROWS` deliveries of a removed route (or of a route of a deleted source), counting
 * the pending and quiet ones as dropped on the source. Resolves with how many rows went; 0 when
 * none are left.
 */
export async function dropOfRoute(db: Database, routeId: RouteId, sourceId: SourceId): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.all<{ status: DeliveryStatus }>(sql`
      delete from deliveries where seq in (select seq from deliveries where route_id = ${routeId} limit ${STEP_ROWS})
      returning status`);
    const dropped = rows.filter((r) => r.status === 'pending' || r.status === 'quiet').length;
    // A member's direct messages dropped with their DM route (they disconnected) are not the source's events dropped.
    if (dropped > 0)
      await tx.run(sql`
        update sources set events_dropped = events_dropped + ${dropped}
        where id = ${sourceId} and exists (select 1 from routes where id = ${routeId} and kind = 'channel')`);
    return rows.length;
  });
}
