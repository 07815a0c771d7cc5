import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import {
  delivered,
  dueNow,
  fail,
  failHeldTooLong,
  requeueFailed,
  sendDifferently,
  sendLater,
  toldByAnother,
} from './delivery-state/index.js';
import { seqsOf, waitingOfSource, type QueuedJob } from './queue.js';
import type { BatchId, EventSeq, MessageId, SourceId } from '../ids.js';
import { isOwnEvent } from '../own-events.js';

/**
 * What became of a send, recorded: the delivery-state transition and the source's counters in one
 * transaction. The transitions themselves are delivery-state/'s; what goes next is queue.ts's.
 */

/** Counts per source, in source id order: counters are updated in one order everywhere, so two transactions never wait on each other in a cycle (Postgres). */
function countBySource(sources: readonly SourceId[]): [SourceId, number][] {
  const counts = new Map<SourceId, number>();
  for (const sourceId of sources) counts.set(sourceId, (counts.get(sourceId) ?? 0) + 1);
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
    const recorded = new Set(await delivered(tx, seqsOf(batch), { messageId, at: now, collapsed }));
    // Dispatch's own events (a change made from Discord, a read-back) were never Sentry's: not counted as its events delivered.
    const counted = batch.filter((job) => recorded.has(job.seq) && !isOwnEvent(job.eventType)).map((job) => job.sourceId);
    for (const [sourceId, count] of countBySource(counted)) {
      await tx.run(
        collapsed
          ? sql`update sources set events_collapsed = events_collapsed + ${count}, flood_summaries = flood_summaries + ${summaries},
                last_flood_at = ${now} where id = ${sourceId}`
          : sql`update sources set events_delivered = events_delivered + ${count} where id = ${sourceId}`,
      );
    }
  });
}

/** A member's DM another source's copy of its Sentry change tells: not sent, nothing counted on the source. */
export async function markToldElsewhere(db: Database, batch: readonly QueuedJob[], now: number): Promise<void> {
  await toldByAnother(db, seqsOf(batch), now);
}

/**
 * A member's DM whose Sentry change another copy claimed and is still sending: it waits until `at`
 * as it is (no attempt counted, nothing on the source), then claims again (src/people/dm-once.ts).
 */
export async function markWaitingForClaimer(db: Database, batch: readonly QueuedJob[], at: number): Promise<void> {
  await sendLater(
    db,
    batch.map((job) => ({ seq: job.seq, nextAttemptAt: at })),
    { reason: 'another copy of the same Sentry change is on its way to the member', countAttempt: false },
  );
}

/** The next try of a failed delivery: when, or `undefined` to give up. Decided by the delivery policy. */
export type NextAttempt = (job: QueuedJob) => number | undefined;

/**
 * A failure worth retrying: each delivery of the batch waits until `nextAttempt` says and keeps its
 * batch id, so the retry to the same channel reuses the nonce in case Discord did post before the
 * failure reached us. A delivery `nextAttempt` gives up on is failed.
 */
export function markRetry(
  db: Database,
  batch: readonly QueuedJob[],
  reason: string,
  nextAttempt: NextAttempt,
  now: number,
  on: Blame = 'source',
): Promise<{ gaveUp: number }> {
  return db.transaction(async (tx) => {
    if (on === 'source') await noteSourceError(tx, batch, reason, now);
    const retried: { seq: QueuedJob['seq']; nextAttemptAt: number }[] = [];
    const givenUp: QueuedJob[] = [];
    for (const job of batch) {
      const at = nextAttempt(job);
      if (at === undefined) givenUp.push(job);
      else retried.push({ seq: job.seq, nextAttemptAt: at });
    }
    await sendLater(tx, retried, { reason, countAttempt: true });
    if (givenUp.length > 0) await failAndCount(tx, givenUp, `gave up after ${givenUp[0]!.attempts + 1} attempts: ${reason}`, now, on);
    return { gaveUp: givenUp.length };
  });
}

/** The channel is on hold: the batch waits as it is (for the probe), and its sources show why. */
export async function markHeld(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  await db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    await sendLater(
      tx,
      batch.map((job) => ({ seq: job.seq, nextAttemptAt: job.nextAttemptAt })),
      { reason, countAttempt: false },
    );
  });
}

/**
 * Discord refused for good (a request no drawing of the event can fix): not retried, shown by `log`,
 * and by `info` as the source's failure, unless it was a member's DM (`on: 'member'`): that one is
 * the member's, recorded on its delivery only.
 */
export async function markFailed(
  db: Database,
  batch: readonly QueuedJob[],
  reason: string,
  now: number,
  on: Blame = 'source',
): Promise<void> {
  await db.transaction((tx) => failAndCount(tx, batch, reason, now, on));
}

/**
 * Whose failure a failed send is: the source's (its channels, shown by `info` and the source's
 * health), or a member's (their DM: Discord cannot reach them, which says nothing of the source).
 */
export type Blame = 'source' | 'member';

async function noteSourceError(db: Database, batch: readonly QueuedJob[], reason: string, now: number): Promise<void> {
  for (const [sourceId] of countBySource(batch.map((job) => job.sourceId))) {
    await db.run(sql`update sources set last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
  }
}

async function failAndCount(
  tx: Database,
  batch: readonly Pick<QueuedJob, 'seq'>[],
  reason: string,
  now: number,
  on: Blame = 'source',
): Promise<number> {
  const failed = await fail(tx, seqsOf(batch), reason, now);
  if (on === 'member') return failed.length;
  for (const [sourceId, count] of countBySource(failed.map((f) => f.sourceId))) {
    await tx.run(sql`
      update sources set events_failed = events_failed + ${count}, last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
  }
  return failed.length;
}

/** The next drawing of these deliveries: 1 the built-in embed, 2 the generic embed, each sent on its own. */
export async function redrawWith(db: Database, batch: readonly QueuedJob[], renderFallback: number): Promise<void> {
  await sendDifferently(db, seqsOf(batch), { solo: true, renderFallback });
}

/** Discord found the batch invalid as a whole: send each delivery on its own to find the bad one. */
export async function splitBatch(db: Database, batch: readonly QueuedJob[]): Promise<void> {
  await sendDifferently(db, seqsOf(batch), { solo: true });
}

/** A refused flood summary: each of its types becomes a summary batch of its own. */
export async function splitSummary(db: Database, batch: readonly QueuedJob[], newBatchId: () => BatchId): Promise<void> {
  const byType = new Map<string, QueuedJob[]>();
  for (const job of batch) {
    const jobs = byType.get(job.eventType);
    if (jobs) jobs.push(job);
    else byType.set(job.eventType, [job]);
  }
  await db.transaction(async (tx) => {
    for (const jobs of byType.values()) await sendDifferently(tx, seqsOf(jobs), { batchId: newBatchId() });
  });
}

/**
 * Runs a bounded step until it finds nothing left to do, giving way to the event loop in between:
 * a backlog of any size is worked through without holding the loop for more than a step at a
 * time. Resolves with the rows all steps touched.
 */
export async function inSteps(step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await step();
    if (done === 0) return total;
    total += done;
    await betweenSteps();
  }
}

/** What a long walk does between its bounded steps: lets the webhooks, the gateway and the worker in. */
const betweenSteps = () => new Promise<void>((resolve) => setImmediate(resolve));

/** After a send succeeded following failures: every delivery waiting out a transient failure, in a channel not on hold, is due at once. */
export function wakeRetries(db: Database, now: number): Promise<number> {
  return dueNow(db, 'every-retry', now, betweenSteps);
}

/**
 * `/dispatch source retry`: the source's waiting deliveries are due now, and its failed ones still
 * within retention are queued again, keeping their batch ids when their whole batch failed (a batch
 * Discord did post is answered with the existing message, not posted twice; see `requeueFailed`). In
 * bounded steps.
 */
export async function retrySource(db: Database, sourceId: SourceId, now: number): Promise<{ requeued: number; waiting: number }> {
  const requeued = await inSteps(() =>
    db.transaction(async (tx) => {
      const moved = await requeueFailed(tx, sourceId, now);
      if (moved > 0)
        await tx.run(sql`
          update sources set events_failed = case when events_failed > ${moved} then events_failed - ${moved} else 0 end where id = ${sourceId}`);
      return moved;
    }),
  );
  await dueNow(db, { sourceId }, now, betweenSteps);
  return { requeued, waiting: await waitingOfSource(db, sourceId) };
}

/** Pending deliveries of held channels whose events arrived before `olderThan` give up: the hold was never fixed. In bounded steps. */
export async function expireHeld(db: Database, olderThan: number, now: number): Promise<number> {
  const first = await db.get<{ seq: number }>(
    sql`select seq from events where received_at >= ${olderThan} order by received_at, seq limit 1`,
  );
  const bound = (first ? Number(first.seq) : Number.MAX_SAFE_INTEGER) as EventSeq;
  return inSteps(() =>
    db.transaction(async (tx) => {
      const failed = await failHeldTooLong(tx, bound, now);
      for (const [sourceId, count] of countBySource(failed.map((f) => f.sourceId)))
        await tx.run(sql`update sources set events_failed = events_failed + ${count} where id = ${sourceId}`);
      return failed.length;
    }),
  );
}
