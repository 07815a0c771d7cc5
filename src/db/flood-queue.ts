import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { JOB, toJob, type Job } from './queue.js';
import type { BatchId, RouteId } from '../ids.js';

/** What a flood summary needs of a route's backlog: the waiting deliveries by type, and the latest of each. */

/** Waiting deliveries of one route not yet in a batch, by event type, oldest type first. */
export async function waitingByType(
  db: Database,
  routeId: RouteId,
): Promise<{ eventType: string; count: number; firstReceivedAt: number; lastReceivedAt: number }[]> {
  const rows = await db.all<{ event_type: string; n: number; first: number; last: number }>(sql`
    select e.event_type, count(*) as n, min(e.received_at) as first, max(e.received_at) as last
    from deliveries d join events e on e.seq = d.event_seq
    where d.route_id = ${routeId} and d.status = 'pending' and d.batch_id is null and e.event_type not like 'dispatch.%'
    group by e.event_type order by min(d.seq)`);
  return rows.map((r) => ({
    eventType: r.event_type,
    count: Number(r.n),
    firstReceivedAt: Number(r.first),
    lastReceivedAt: Number(r.last),
  }));
}

/** The latest waiting, unbatched deliveries of one event type of a route, newest last. */
export async function latestWaitingOfType(db: Database, routeId: RouteId, eventType: string, limit: number): Promise<Job[]> {
  const rows = await db.all(sql`
    ${JOB} where d.route_id = ${routeId} and d.status = 'pending' and d.batch_id is null and e.event_type = ${eventType}
    order by d.seq desc limit ${limit}`);
  return rows.map(toJob).reverse();
}

/** Puts every waiting, unbatched delivery of a route of each group of types into one summary batch per group. */
export async function assignSummaryBatches(
  db: Database,
  routeId: RouteId,
  groups: readonly { batchId: BatchId; eventTypes: readonly string[] }[],
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const { batchId, eventTypes } of groups) {
      await tx.run(sql`
        update deliveries set batch_id = ${batchId}, summary = ${true}
        where route_id = ${routeId} and status = 'pending' and batch_id is null
        and exists (select 1 from events e where e.seq = deliveries.event_seq and e.event_type in ${eventTypes})`);
    }
  });
}
