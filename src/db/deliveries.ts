import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { JOB, seqsOf, toJob, type Job, type QueuedJob } from './queue.js';
import type { BatchId, MessageId, RouteId, SourceId } from '../ids.js';
import { isOwnEvent } from '../sentry/event-type.js';

/**
 * What became of deliveries once a send was tried: delivered, retried, held, failed, split or
 * drawn again; and the counts that commands show. What goes next is in queue.ts.
 */

/** Jobs per source, in source id order: counters are updated in one order everywhere, so two transactions never wait on each other in a cycle (Postgres). */
function countBySource(jobs: readonly QueuedJob[]): [SourceId, number][] {
  const counts = new Map<SourceId, number>();
  for (const job of jobs) counts.set(job.sourceId, (counts.get(job.sourceId) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a - b);
}

/**
 * Records Discord's acceptance of a batch and each source's counters, in one transaction. With
 * `summaries`, the batch went out as that many flood summary embeds: its deliveries are collapsed.
 */
export function markDelivered(
  db: Database,
  batch: readonly QueuedJob[],
  messageId: MessageId,
  now: number,
  options: { summaries?: number; alsoRecord?: (tx: Database) => Promise<void> } = {},
): Promise<void> {
  const { summaries } = options;
  const collapsed = summaries !== undefined;
  return db.transaction(async (tx) => {
    // What else the send changed (a card), in the same transaction: recorded together or not at all.
    await options.alsoRecord?.(tx);
    // Only what is still waiting counts: a replica that lost its channel mid-send may record the same batch as another.
    // (Paused too: its source was disabled while the message was on its way, and it was posted.)
    const still = new Set(
      (
        await tx.all<{ seq: number }>(sql`select seq from deliveries where seq in ${seqsOf(batch)} and status in ('pending', 'paused')`)
      ).map((r) => Number(r.seq)),
    );
    const recorded = batch.filter((job) => still.has(Number(job.seq)));
    if (recorded.length === 0) return;
    await tx.run(sql`
      update deliveries set status = ${collapsed ? 'collapsed' : 'delivered'}, delivered_at = ${now}, message_id = ${messageId}, last_error = null,
        sending = ${false}
      where seq in ${seqsOf(recorded)}`);
    // Dispatch's own events (a change made from Discord, a read-back) were never Sentry's: not counted as its events delivered.
    for (const [sourceId, count] of countBySource(recorded.filter((job) => !isOwnEvent(job.eventType)))) {
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
export type NextAttempt = (job: QueuedJob) => number | undefined;

/**
 * A failure worth retrying: each delivery of the batch is tried again when `nextAttempt` says and
 * keeps its batch id, so the retry reuses the nonce in case Discord did post before the failure
 * reached us. For the same reason the batch stays claimed for its channel (`sending`): a route moved
 * meanwhile leaves it to be sent again where Discord may already have it. A delivery `nextAttempt`
 * gives up on is failed.
 */
export function markRetry(
  db: Database,
  batch: readonly QueuedJob[],
  reason: string,
  nextAttempt: NextAttempt,
  now: number,
): Promise<{ gaveUp: number }> {
  return db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    const givenUp: QueuedJob[] = [];
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
export async function markHeld(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  await db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    await tx.run(sql`update deliveries set last_error = ${reason}, sending = ${false} where seq in ${seqsOf(batch)}`);
  });
}

/** Discord refused for good (a request no drawing of the event can fix): not retried, shown by `info` and `log`. */
export function markFailed(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  return db.transaction((tx) => failJobs(tx, batch, reason, now));
}

async function noteSourceError(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  for (const [sourceId] of countBySource(batch)) {
    await db.run(sql`update sources set last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
  }
}

async function failJobs(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  await db.run(sql`
    update deliveries set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${now}, sending = ${false}
    where seq in ${seqsOf(batch)}`);
  for (const [sourceId, count] of countBySource(batch)) {
    await db.run(sql`
      update sources set events_failed = events_failed + ${count}, last_error = ${reason}, last_error_at = ${now}
      where id = ${sourceId}`);
  }
}

/** The next drawing of these deliveries: 1 the built-in embed, 2 the generic embed. A new batch is formed for them. */
export async function redrawWith(db: Database, batch: readonly QueuedJob[], renderFallback: number): Promise<void> {
  await db.run(
    sql`update deliveries set render_fallback = ${renderFallback}, batch_id = null, solo = ${true}, sending = ${false} where seq in ${seqsOf(batch)}`,
  );
}

/** Discord found the batch invalid as a whole: send each delivery on its own to find the bad one. */
export async function splitBatch(db: Database, batch: readonly QueuedJob[]): Promise<void> {
  await db.run(
    sql`update deliveries set solo = ${true}, batch_id = null, summary = ${false}, sending = ${false} where seq in ${seqsOf(batch)}`,
  );
}

/** A refused flood summary: each of its types becomes a summary batch of its own. */
export async function splitSummary(db: Database, batch: readonly QueuedJob[], newBatchId: () => BatchId): Promise<void> {
  const byType = new Map<string, QueuedJob[]>();
  for (const job of batch) byType.set(job.eventType, [...(byType.get(job.eventType) ?? []), job]);
  await db.transaction(async (tx) => {
    for (const jobs of byType.values())
      await tx.run(sql`update deliveries set batch_id = ${newBatchId()}, sending = ${false} where seq in ${seqsOf(jobs)}`);
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
export async function retrySource(db: Database, sourceId: SourceId, now: number): Promise<{ requeued: number; waiting: number }> {
  return db.transaction(async (tx) => {
    const ofSource = sql`event_seq in (select seq from events where source_id = ${sourceId})`;
    // A disabled source's failed events are queued again paused: they go once it is enabled.
    const requeued = await tx.run(sql`
      update deliveries set status = case when (select enabled from sources where id = ${sourceId}) then 'pending' else 'paused' end,
        attempts = 0, next_attempt_at = ${now}, delivered_at = null, render_fallback = 0, sending = ${false}
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
export async function backlogOfRoute(db: Database, routeId: RouteId): Promise<Backlog> {
  const row = await db.get<{ waiting: number; oldest: number | null }>(sql`
    select count(*) as waiting, min(e.received_at) as oldest from deliveries d join events e on e.seq = d.event_seq
    where d.route_id = ${routeId} and d.status = 'pending'`);
  return { waiting: Number(row!.waiting), oldestReceivedAt: row!.oldest === null ? null : Number(row!.oldest) };
}

/** How many of a route's deliveries its quiet hours hold for their digest. */
export async function heldOfRoute(db: Database, routeId: RouteId): Promise<number> {
  const row = await db.get<{ n: number }>(sql`select count(*) as n from deliveries where route_id = ${routeId} and status = 'held'`);
  return Number(row!.n);
}

/** How many of a source's deliveries wait (over all its routes). */
export async function waitingOfSource(db: Database, sourceId: SourceId): Promise<number> {
  const row = await db.get<{ n: number }>(sql`
    select count(*) as n from deliveries d join events e on e.seq = d.event_seq where e.source_id = ${sourceId} and d.status in ('pending', 'paused')`);
  return Number(row!.n);
}
