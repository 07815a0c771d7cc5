import { sql } from 'drizzle-orm';
import type { Database } from '../database.js';
import type { BatchId, ChannelId, DeliverySeq, MessageId, SourceId } from '../../ids.js';
import { batchStillSendsTo, routeSendsTo, seqList, statusIs } from './common.js';

// ── the worker: claim, and what became of a send ─────────────────────────────────────────────────

/**
 * pending → sending, as one batch for `channelId` under `batchId` (its Discord nonce). Guarded: only
 * deliveries still pending whose route posts to that channel now and whose source is enabled; a
 * delivery already bound to the batch (a retry) keeps it, and goes even if its source was disabled
 * since (it may be in Discord already). Resolves with how many were claimed:
 * fewer than asked means the batch changed since it was planned (see `release`).
 */
export function claim(
  db: Database,
  seqs: readonly DeliverySeq[],
  batch: { batchId: BatchId; channelId: ChannelId; summary?: boolean },
): Promise<number> {
  if (seqs.length === 0) return Promise.resolve(0);
  return db.run(sql`
    update deliveries set status = 'sending', batch_id = ${batch.batchId}, channel_id = ${batch.channelId},
      summary = ${batch.summary ?? false}
    where seq in ${seqList(seqs)} and ${statusIs('pending')}
      and (${routeSendsTo(batch.channelId)} or ${batchStillSendsTo(batch.channelId, batch.batchId)})`);
}

/** sending → pending, batch dissolved: a claim that fell short; what it took is planned again. */
export async function release(db: Database, batchId: BatchId): Promise<void> {
  await db.run(
    sql`update deliveries set status = 'pending', batch_id = null, summary = ${false} where batch_id = ${batchId} and status = 'sending'`,
  );
}

/**
 * pending or sending → pending, out of their batch: events of a batch formed as a feed message,
 * sent again as cards once its route became a card route, whose issue has a card by now (made
 * since the batch was formed). Each goes as its card's edit; the rest of the batch keeps its nonce
 * (Discord may have posted it), and goes as new cards under it.
 */
export async function reform(db: Database, seqs: readonly DeliverySeq[]): Promise<void> {
  if (seqs.length === 0) return;
  await db.run(
    sql`update deliveries set status = 'pending', batch_id = null, summary = ${false} where seq in ${seqList(seqs)} and ${statusIs('pending', 'sending')}`,
  );
}

/**
 * sending → delivered (or collapsed, for a flood summary). Resolves with the deliveries it
 * recorded: another replica that lost the channel mid-send may record the same batch, and only
 * the first counts.
 */
export async function delivered(
  tx: Database,
  seqs: readonly DeliverySeq[],
  outcome: { messageId: MessageId; at: number; collapsed: boolean },
): Promise<DeliverySeq[]> {
  if (seqs.length === 0) return [];
  const rows = await tx.all<{ seq: number }>(sql`
    update deliveries set status = ${outcome.collapsed ? 'collapsed' : 'delivered'}, delivered_at = ${outcome.at},
      message_id = ${outcome.messageId}, last_error = null
    where seq in ${seqList(seqs)} and ${statusIs('sending')} returning seq`);
  return rows.map((r) => Number(r.seq) as DeliverySeq);
}

/**
 * sending → collapsed, not sent: a member's DM whose Sentry change another delivery (another
 * source's copy of Sentry's webhook) claimed just before its own send (src/people/dm-once.ts). No
 * message of its own: the other one tells the member.
 */
export async function toldByAnother(tx: Database, seqs: readonly DeliverySeq[], at: number): Promise<DeliverySeq[]> {
  if (seqs.length === 0) return [];
  const rows = await tx.all<{ seq: number }>(sql`
    update deliveries set status = 'collapsed', delivered_at = ${at}, message_id = null, last_error = null
    where seq in ${seqList(seqs)} and ${statusIs('sending')} returning seq`);
  return rows.map((r) => Number(r.seq) as DeliverySeq);
}

/**
 * sending → pending, to go again later under the same batch and nonce for the same channel (a
 * transient failure: Discord may have posted it; a channel on hold). If the route moves meanwhile,
 * the next claim is for its new channel and forms a new batch: a waiting delivery follows its route.
 */
export async function sendLater(
  tx: Database,
  jobs: readonly { seq: DeliverySeq; nextAttemptAt: number }[],
  outcome: { reason: string; countAttempt: boolean },
): Promise<void> {
  // One statement per distinct time: a card's edit may carry hundreds of deliveries, a flood summary
  // thousands, all due together (pushed, not copied: a copy per delivery is quadratic in a summary's size).
  const byTime = new Map<number, DeliverySeq[]>();
  for (const job of jobs) {
    const seqs = byTime.get(job.nextAttemptAt);
    if (seqs) seqs.push(job.seq);
    else byTime.set(job.nextAttemptAt, [job.seq]);
  }
  for (const [at, seqs] of byTime) {
    await tx.run(sql`
      update deliveries set status = 'pending', next_attempt_at = ${at}, last_error = ${outcome.reason},
        attempts = attempts + ${outcome.countAttempt ? 1 : 0}
      where seq in ${seqList(seqs)} and ${statusIs('sending')}`);
  }
}

/**
 * sending → pending with its batch dissolved, to be drawn or grouped differently: alone (`solo`,
 * after Discord refused the batch as invalid), more plainly (`renderFallback`), or as a summary of
 * its own type (`batchId`).
 */
export async function sendDifferently(
  tx: Database,
  seqs: readonly DeliverySeq[],
  how: { solo?: boolean; renderFallback?: number; batchId?: BatchId },
): Promise<void> {
  if (seqs.length === 0) return;
  await tx.run(sql`
    update deliveries set status = 'pending', batch_id = ${how.batchId ?? null},
      solo = ${how.solo === undefined ? sql`solo` : how.solo},
      render_fallback = ${how.renderFallback === undefined ? sql`render_fallback` : how.renderFallback},
      summary = ${how.batchId === undefined ? false : sql`summary`}
    where seq in ${seqList(seqs)} and ${statusIs('sending')}`);
}

/**
 * sending or pending → failed, with the reason; resolves with the ones it failed, by source
 * (counted on the source by the caller's transaction).
 */
export async function fail(
  tx: Database,
  seqs: readonly DeliverySeq[],
  reason: string,
  at: number,
): Promise<{ seq: DeliverySeq; sourceId: SourceId }[]> {
  if (seqs.length === 0) return [];
  const rows = await tx.all<{ seq: number; source_id: number }>(sql`
    update deliveries set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${at}
    where seq in ${seqList(seqs)} and ${statusIs('sending', 'pending')}
    returning seq, (select e.source_id from events e where e.seq = deliveries.event_seq) as source_id`);
  return rows.map((r) => ({ seq: Number(r.seq) as DeliverySeq, sourceId: Number(r.source_id) as SourceId }));
}
