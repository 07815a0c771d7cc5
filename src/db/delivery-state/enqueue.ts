import { sql, type SQL } from 'drizzle-orm';
import type { Database } from '../database.js';
import { routesByIds } from '../routes.js';
import type { CardKey, EventSeq, RouteId, SourceId } from '../../ids.js';
import { quietTreatment, scheduleOf } from '../../schedule/route-schedule.js';
import type { Level } from '../../sentry/facts.js';
import { STEP_ROWS } from './common.js';

// ── enqueue ────────────────────────────────────────────────────────────────────────────────────

/** A delivery to write for a stored event: the event, the route, and what quiet hours need to know of the event. */
export interface NewDelivery {
  eventSeq: EventSeq;
  routeId: RouteId;
  cardKey: CardKey | null;
  kind: { type: string; level: Level | undefined };
  /** Sent alone, never batched or summarized (a digest). */
  solo: boolean;
}

/**
 * Writes the deliveries of stored events, each `pending` or `quiet` (muted on a card route) as the
 * route's quiet hours are *now*, read in this transaction: on Postgres the caller holds the
 * sources' rows (`lockSources`), which every route change takes first, so no change can commit
 * between this read and the commit. A route removed meanwhile takes nothing: its count is returned.
 */
export async function enqueue(tx: Database, rows: readonly NewDelivery[], now: number): Promise<{ written: number; gone: NewDelivery[] }> {
  if (rows.length === 0) return { written: 0, gone: [] };
  // Read in this transaction: the route as it is now, not as the webhook saw it.
  const routes = await routesByIds(tx, [...new Set(rows.map((r) => r.routeId))]);
  const values: SQL[] = [];
  const gone: NewDelivery[] = [];
  for (const row of rows) {
    const route = routes.get(row.routeId);
    if (!route) {
      gone.push(row);
      continue;
    }
    const quiet = quietTreatment(route.layout, scheduleOf(route), row.kind, now);
    values.push(
      sql`(${row.eventSeq}, ${row.routeId}, ${route.channelId}, ${quiet === 'quiet' ? 'quiet' : 'pending'}, ${row.cardKey}, ${quiet === 'muted'}, ${row.solo}, ${now})`,
    );
  }
  for (let i = 0; i < values.length; i += STEP_ROWS) {
    await tx.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, status, card_key, muted, solo, next_attempt_at)
      values ${sql.join(values.slice(i, i + STEP_ROWS), sql`, `)}`);
  }
  return { written: values.length, gone };
}

/**
 * Postgres: takes these sources' rows for the transaction, in id order (every transaction that
 * locks sources does so in that order). A route change locks its source first, so an enqueue that
 * holds the source reads settings no change can overtake. SQLite has one writer: nothing to do.
 */
export async function lockSources(tx: Database, ids: readonly SourceId[]): Promise<void> {
  if (tx.dialect !== 'postgres' || ids.length === 0) return;
  await tx.all(sql`select id from sources where id in ${[...new Set(ids)].sort((a, b) => a - b)} order by id for update`);
}
