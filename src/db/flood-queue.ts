import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { jobsOf, UNBATCHED, type Job } from './queue.js';
import type { DeliverySeq, EventSeq, RouteId } from '../ids.js';
import { isOwnEventSql } from '../own-events.js';

/** What a flood summary needs of a route's backlog, read without bodies but for a few examples. */

/** A waiting delivery a summary may count: which one, and its event's type. */
export interface CollapsedRow {
  seq: DeliverySeq;
  eventSeq: EventSeq;
  eventType: string;
}

/** The oldest `limit` waiting deliveries of a route that a summary may count (not in a batch for its channel, not Dispatch's own), in order. */
export async function collapsible(db: Database, routeId: RouteId, limit: number): Promise<CollapsedRow[]> {
  const rows = await db.all<{ seq: number; event_seq: number; event_type: string }>(sql`
    select d.seq, d.event_seq, e.event_type from deliveries d join events e on e.seq = d.event_seq join routes r on r.id = d.route_id
    where d.status = 'pending' and d.route_id = ${routeId} and ${UNBATCHED} and not ${isOwnEventSql(sql`e.event_type`)}
    order by d.seq limit ${limit}`);
  return rows.map((r) => ({ seq: Number(r.seq) as DeliverySeq, eventSeq: Number(r.event_seq) as EventSeq, eventType: r.event_type }));
}

export interface CollapsedGroupRows {
  eventType: string;
  count: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** The delivery seqs of its latest events, oldest first (the examples are drawn from the last few). */
  latestSeqs: DeliverySeq[];
}

/** The rows by type, in order of each type's first row, with when its first and last event arrived (two event rows read per type). */
export async function groupsOf(db: Database, rows: readonly CollapsedRow[]): Promise<CollapsedGroupRows[]> {
  const byType = new Map<string, { count: number; first: EventSeq; last: EventSeq; latest: DeliverySeq[] }>();
  for (const row of rows) {
    const group = byType.get(row.eventType) ?? { count: 0, first: row.eventSeq, last: row.eventSeq, latest: [] };
    group.count += 1;
    group.last = row.eventSeq;
    group.latest.push(row.seq);
    if (group.latest.length > 10) group.latest.shift();
    byType.set(row.eventType, group);
  }
  const ends = [...byType.values()].flatMap((g) => [g.first, g.last]);
  const times = new Map<number, number>();
  if (ends.length > 0) {
    for (const r of await db.all<{ seq: number; received_at: number }>(
      sql`select seq, received_at from events where seq in ${[...new Set(ends)]}`,
    ))
      times.set(Number(r.seq), Number(r.received_at));
  }
  return [...byType].map(([eventType, g]) => ({
    eventType,
    count: g.count,
    firstReceivedAt: times.get(g.first) ?? 0,
    lastReceivedAt: times.get(g.last) ?? 0,
    latestSeqs: g.latest,
  }));
}

/** An example is drawn only from a body at most this big; a larger one is left out (its type is still counted). */
const EXAMPLE_MAX_BYTES = 256 * 1024;

/** These deliveries with their bodies, but those too big to be an example: a summary reads at most a few small bodies per type. */
export async function examplesOf(db: Database, seqs: readonly DeliverySeq[]): Promise<Job[]> {
  if (seqs.length === 0) return [];
  const small = await db.all<{ seq: number }>(sql`
    select d.seq from deliveries d join events e on e.seq = d.event_seq where d.seq in ${seqs} and octet_length(e.body) <= ${EXAMPLE_MAX_BYTES}`);
  return jobsOf(
    db,
    small.map((r) => Number(r.seq) as DeliverySeq),
  );
}
