import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { deliveries, type DeliveryRow } from './schema.js';

/** A delivery with what the worker needs of its event: the unit the queue hands out. */
export interface Job extends DeliveryRow {
  eventId: string;
  sourceId: number;
  eventType: string;
  body: string;
  receivedAt: number;
  /** Its route's layout: a card route keeps a card per Sentry issue. */
  layout: 'card' | 'feed';
}

const JOB = sql`
  select d.*, e.id as event_id, e.source_id, e.event_type, e.body, e.received_at, r.layout
  from deliveries d join events e on e.seq = d.event_seq join routes r on r.id = d.route_id`;

function toJob(row: Record<string, unknown>): Job {
  return {
    ...fromRow(deliveries, row),
    eventId: String(row.event_id),
    sourceId: Number(row.source_id),
    eventType: String(row.event_type),
    body: String(row.body),
    receivedAt: Number(row.received_at),
    layout: row.layout === 'card' ? 'card' : 'feed',
  };
}

const seqsOf = (jobs: readonly Job[]) => jobs.map((j) => j.seq);

function countBySource(jobs: readonly Job[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const job of jobs) counts.set(job.sourceId, (counts.get(job.sourceId) ?? 0) + 1);
  return counts;
}

/**
 * The oldest pending delivery of every channel that an enabled source's route posts to and that is
 * not on hold: the only ones that may go next. One indexed look-up per channel.
 */
export async function pendingHeads(db: Database): Promise<Job[]> {
  const channels = await db.all<{ channel_id: string }>(sql`
    select distinct r.channel_id from routes r join sources s on s.id = r.source_id
    where s.enabled = ${true} and r.channel_id not in (select channel_id from holds)`);
  const heads: Job[] = [];
  for (const { channel_id } of channels) heads.push(...(await pendingForChannel(db, channel_id, 1)));
  return heads.sort((a, b) => a.seq - b.seq);
}

/** Pending deliveries of a channel in arrival order, starting at the head (sources that are enabled only). */
export async function pendingForChannel(db: Database, channelId: string, limit: number): Promise<Job[]> {
  const rows = await db.all(sql`
    ${JOB} join sources s on s.id = e.source_id
    where d.status = 'pending' and d.channel_id = ${channelId} and s.enabled = ${true}
    order by d.seq limit ${limit}`);
  return rows.map(toJob);
}

export async function jobsInBatch(db: Database, batchId: string): Promise<Job[]> {
  return (await db.all(sql`${JOB} where d.batch_id = ${batchId} and d.status = 'pending' order by d.seq`)).map(toJob);
}

export async function assignBatch(db: Database, seqs: readonly number[], batchId: string): Promise<void> {
  await db.run(sql`update deliveries set batch_id = ${batchId} where seq in ${seqs}`);
}

/**
 * Records Discord's acceptance of a batch and each source's counters, in one transaction. With
 * `summaries`, the batch went out as that many flood summary embeds: its deliveries are collapsed.
 */
export function markDelivered(
  db: Database,
  batch: readonly Job[],
  messageId: string,
  now: number,
  options: { summaries?: number; alsoRecord?: (tx: Database) => Promise<void> } = {},
): Promise<void> {
  const { summaries } = options;
  const collapsed = summaries !== undefined;
  return db.transaction(async (tx) => {
    // What else the send changed (a card), in the same transaction: recorded together or not at all.
    await options.alsoRecord?.(tx);
    await tx.run(sql`
      update deliveries set status = ${collapsed ? 'collapsed' : 'delivered'}, delivered_at = ${now}, message_id = ${messageId}, last_error = null
      where seq in ${seqsOf(batch)}`);
    for (const [sourceId, count] of countBySource(batch)) {
      await tx.run(
        collapsed
          ? sql`update sources set events_collapsed = events_collapsed + ${count}, flood_summaries = flood_summaries + ${summaries},
                last_flood_at = ${now} where id = ${sourceId}`
          : sql`update sources set events_delivered = events_delivered + ${count} where id = ${sourceId}`,
      );
    }
  });
}

/** The next try of a failed delivery: when, or `undefined` to give up. Decided by the delivery policy. */
export type NextAttempt = (job: Job) => number | undefined;

/**
 * A failure worth retrying: each delivery of the batch is tried again when `nextAttempt` says and
 * keeps its batch id, so the retry reuses the nonce in case Discord did post before the failure
 * reached us. A delivery `nextAttempt` gives up on is failed.
 */
export function markRetry(
  db: Database,
  batch: readonly Job[],
  reason: string,
  nextAttempt: NextAttempt,
  now: number,
): Promise<{ gaveUp: number }> {
  return db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    const givenUp: Job[] = [];
    for (const job of batch) {
      const at = nextAttempt(job);
      if (at === undefined) givenUp.push(job);
      else
        await tx.run(
          sql`update deliveries set attempts = attempts + 1, next_attempt_at = ${at}, last_error = ${reason} where seq = ${job.seq}`,
        );
    }
    if (givenUp.length > 0) await failJobs(tx, givenUp, `gave up after ${givenUp[0]!.attempts + 1} attempts: ${reason}`, now);
    return { gaveUp: givenUp.length };
  });
}

/** The channel is on hold: the batch waits as it is, and its sources show why. */
export async function markHeld(db: Database, batch: readonly Job[], reason: string, now: number): Promise<void> {
  await db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    await tx.run(sql`update deliveries set last_error = ${reason} where seq in ${seqsOf(batch)}`);
  });
}

/** Discord refused for good (a request no drawing of the event can fix): not retried, shown by `info` and `log`. */
export function markFailed(db: Database, batch: readonly Job[], reason: string, now: number): Promise<void> {
  return db.transaction((tx) => failJobs(tx, batch, reason, now));
}

async function noteSourceError(db: Database, batch: readonly Job[], reason: string, now: number): Promise<void> {
  for (const [sourceId] of countBySource(batch)) {
    await db.run(sql`update sources set last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
  }
}

async function failJobs(db: Database, batch: readonly Job[], reason: string, now: number): Promise<void> {
  await db.run(sql`
    update deliveries set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${now}
    where seq in ${seqsOf(batch)}`);
  for (const [sourceId, count] of countBySource(batch)) {
    await db.run(sql`
      update sources set events_failed = events_failed + ${count}, last_error = ${reason}, last_error_at = ${now}
      where id = ${sourceId}`);
  }
}

/** The next drawing of these deliveries: 1 the built-in embed, 2 the generic embed. A new batch is formed for them. */
export async function redrawWith(db: Database, batch: readonly Job[], renderFallback: number): Promise<void> {
  await db.run(
    sql`update deliveries set render_fallback = ${renderFallback}, batch_id = null, solo = ${true} where seq in ${seqsOf(batch)}`,
  );
}

/** Discord found the batch invalid as a whole: send each delivery on its own to find the bad one. */
export async function splitBatch(db: Database, batch: readonly Job[]): Promise<void> {
  await db.run(sql`update deliveries set solo = ${true}, batch_id = null, summary = ${false} where seq in ${seqsOf(batch)}`);
}

/** A refused flood summary: each of its types becomes a summary batch of its own. */
export async function splitSummary(db: Database, batch: readonly Job[], newBatchId: () => string): Promise<void> {
  const byType = new Map<string, number[]>();
  for (const job of batch) byType.set(job.eventType, [...(byType.get(job.eventType) ?? []), job.seq]);
  await db.transaction(async (tx) => {
    for (const seqs of byType.values()) await tx.run(sql`update deliveries set batch_id = ${newBatchId()} where seq in ${seqs}`);
  });
}

/**
 * After a send succeeded following failures: every delivery waiting out a transient failure, in a
 * channel not on hold, is due at once (Discord is back, so there is nothing left to wait for).
 */
export async function wakeRetries(db: Database, now: number): Promise<number> {
  return db.run(sql`
    update deliveries set next_attempt_at = ${now}
    where status = 'pending' and attempts > 0 and next_attempt_at > ${now} and channel_id not in (select channel_id from holds)`);
}

/**
 * `/dispatch source retry`: the source's waiting deliveries are due now, and its failed ones still
 * within retention are queued again, keeping their batch ids (so a batch Discord did post is
 * answered with the existing message, not posted twice).
 */
export async function retrySource(db: Database, sourceId: number, now: number): Promise<{ requeued: number; waiting: number }> {
  return db.transaction(async (tx) => {
    const ofSource = sql`event_seq in (select seq from events where source_id = ${sourceId})`;
    const requeued = await tx.run(sql`
      update deliveries set status = 'pending', attempts = 0, next_attempt_at = ${now}, delivered_at = null, render_fallback = 0
      where status = 'failed' and ${ofSource}`);
    if (requeued > 0) {
      await tx.run(sql`
        update sources set events_failed = case when events_failed > ${requeued} then events_failed - ${requeued} else 0 end where id = ${sourceId}`);
    }
    const waiting = await tx.run(sql`update deliveries set next_attempt_at = ${now} where status = 'pending' and ${ofSource}`);
    return { requeued, waiting };
  });
}

/** Held deliveries of events older than the retention give up: the hold was never fixed. */
export async function expireHeld(db: Database, olderThan: number, now: number): Promise<number> {
  const expired = (
    await db.all(sql`
      ${JOB} where d.status = 'pending' and e.received_at < ${olderThan} and d.channel_id in (select channel_id from holds)`)
  ).map(toJob);
  if (expired.length > 0) await markFailed(db, expired, 'held for longer than EVENT_RETENTION: the channel was never fixed', now);
  return expired.length;
}

export async function queueStats(db: Database, now: number): Promise<{ depth: number; oldestPendingAgeMs: number | null }> {
  const row = await db.get<{ depth: number; oldest: number | null }>(sql`
    select count(*) as depth, min(e.received_at) as oldest from deliveries d join events e on e.seq = d.event_seq where d.status = 'pending'`);
  return { depth: Number(row!.depth), oldestPendingAgeMs: row!.oldest === null ? null : now - Number(row!.oldest) };
}

export interface Backlog {
  waiting: number;
  oldestReceivedAt: number | null;
}

/** How many of a route's deliveries wait, and since when: what the flood rule looks at. */
export async function backlogOfRoute(db: Database, routeId: number): Promise<Backlog> {
  const row = await db.get<{ waiting: number; oldest: number | null }>(sql`
    select count(*) as waiting, min(e.received_at) as oldest from deliveries d join events e on e.seq = d.event_seq
    where d.route_id = ${routeId} and d.status = 'pending'`);
  return { waiting: Number(row!.waiting), oldestReceivedAt: row!.oldest === null ? null : Number(row!.oldest) };
}

/** How many of a source's deliveries wait (over all its routes). */
export async function waitingOfSource(db: Database, sourceId: number): Promise<number> {
  const row = await db.get<{ n: number }>(sql`
    select count(*) as n from deliveries d join events e on e.seq = d.event_seq where e.source_id = ${sourceId} and d.status = 'pending'`);
  return Number(row!.n);
}

/** The waiting deliveries for one card of a route not yet in a batch, in order: what one edit of the card takes in. */
export async function pendingForCard(db: Database, routeId: number, cardKey: string): Promise<Job[]> {
  const rows = await db.all(
    sql`${JOB} where d.route_id = ${routeId} and d.card_key = ${cardKey} and d.status = 'pending' and d.batch_id is null order by d.seq`,
  );
  return rows.map(toJob);
}

/** Waiting deliveries of one route not yet in a batch, by event type, oldest type first. */
export async function waitingByType(
  db: Database,
  routeId: number,
): Promise<{ eventType: string; count: number; firstReceivedAt: number; lastReceivedAt: number }[]> {
  const rows = await db.all<{ event_type: string; n: number; first: number; last: number }>(sql`
    select e.event_type, count(*) as n, min(e.received_at) as first, max(e.received_at) as last
    from deliveries d join events e on e.seq = d.event_seq
    where d.route_id = ${routeId} and d.status = 'pending' and d.batch_id is null
    group by e.event_type order by min(d.seq)`);
  return rows.map((r) => ({
    eventType: r.event_type,
    count: Number(r.n),
    firstReceivedAt: Number(r.first),
    lastReceivedAt: Number(r.last),
  }));
}

/** The latest waiting, unbatched deliveries of one event type of a route, newest last. */
export async function latestWaitingOfType(db: Database, routeId: number, eventType: string, limit: number): Promise<Job[]> {
  const rows = await db.all(sql`
    ${JOB} where d.route_id = ${routeId} and d.status = 'pending' and d.batch_id is null and e.event_type = ${eventType}
    order by d.seq desc limit ${limit}`);
  return rows.map(toJob).reverse();
}

/** Puts every waiting, unbatched delivery of a route of each group of types into one summary batch per group. */
export async function assignSummaryBatches(
  db: Database,
  routeId: number,
  groups: readonly { batchId: string; eventTypes: readonly string[] }[],
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
