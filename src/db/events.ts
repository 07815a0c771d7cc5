import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { events, type EventRow } from './schema.js';

export interface AcceptedEvent {
  id: string;
  /** True when the same bytes already reached this source: nothing new was stored. */
  duplicate: boolean;
}

function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface IncomingEvent {
  sourceId: number;
  channelId: string;
  eventType: string;
  /** The exact bytes the signature covered: what deduplication compares. */
  body: Buffer;
  /** The same bytes decoded (once, by the route): what is stored. */
  text: string;
}

const toEvent = (row: Record<string, unknown>): EventRow => fromRow(events, row);

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Stores accepted webhooks with their delivery jobs in one transaction, so that once this returns
 * every stored one survives a crash. Each event is written under its own savepoint: one that fails
 * (its source was just deleted, say) is undone alone and reported alone, and the others commit.
 *
 * An identical body for the same source within `dedupeWindowMs` is the same event: it is counted
 * as a duplicate and answered with the first one's id. After the window the old event stops being
 * matched and the same bytes are a new event (a re-resolved issue with nothing new, say).
 */
export function acceptEvents(
  db: Database,
  inputs: readonly IncomingEvent[],
  now: number,
  dedupeWindowMs: number,
): Promise<Settled<AcceptedEvent>[]> {
  return db.transaction(async (tx) => {
    const receivedBySource = new Map<number, number>();
    const results: Settled<AcceptedEvent>[] = [];
    for (const input of inputs) {
      try {
        const accepted = await tx.transaction((one) => acceptOne(one, input, now, dedupeWindowMs));
        if (!accepted.duplicate) receivedBySource.set(input.sourceId, (receivedBySource.get(input.sourceId) ?? 0) + 1);
        results.push({ ok: true, value: accepted });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    // One counter update per source, not per event: a burst from one source is one write.
    for (const [sourceId, count] of receivedBySource) {
      await tx.run(sql`update sources set events_received = events_received + ${count}, last_event_at = ${now} where id = ${sourceId}`);
    }
    return results;
  });
}

async function acceptOne(db: Database, input: IncomingEvent, now: number, dedupeWindowMs: number): Promise<AcceptedEvent> {
  const bodyHash = hashBody(input.body);
  const insert = () =>
    db.get<{ id: string }>(sql`
      insert into events (id, source_id, channel_id, event_type, body_hash, body, received_at, next_attempt_at)
      values (${randomUUID()}, ${input.sourceId}, ${input.channelId}, ${input.eventType}, ${bodyHash}, ${input.text}, ${now}, ${now})
      on conflict (source_id, body_hash) where deduped do nothing returning id`);
  const inserted = await insert();
  if (inserted) return { id: inserted.id, duplicate: false };
  const earlier = (await db.get<{ id: string; received_at: number }>(
    sql`select id, received_at from events where source_id = ${input.sourceId} and body_hash = ${bodyHash} and deduped`,
  ))!;
  if (now - Number(earlier.received_at) < dedupeWindowMs) {
    await db.run(sql`update events set duplicates = duplicates + 1, last_duplicate_at = ${now} where id = ${earlier.id}`);
    return { id: earlier.id, duplicate: true };
  }
  // Only on a conflict, so a new event costs one statement: the old one stops being matched.
  await db.run(sql`update events set deduped = ${false} where id = ${earlier.id}`);
  return { id: (await insert())!.id, duplicate: false };
}

/**
 * The oldest pending event of every channel whose source is enabled: the only ones that may go next.
 * One indexed look-up per channel rather than a scan of the whole backlog.
 */
export async function pendingHeads(db: Database): Promise<EventRow[]> {
  const channels = await db.all<{ channel_id: string }>(sql`
    select distinct channel_id from sources
    where enabled = ${true} and channel_id not in (select channel_id from holds)`);
  const heads: EventRow[] = [];
  for (const { channel_id } of channels) heads.push(...(await pendingForChannel(db, channel_id, 1)));
  return heads.sort((a, b) => a.seq - b.seq);
}

/** Pending events of a channel in arrival order, starting at the head. */
export async function pendingForChannel(db: Database, channelId: string, limit: number): Promise<EventRow[]> {
  const rows = await db.all(sql`
    select e.* from events e join sources s on s.id = e.source_id
    where e.status = 'pending' and e.channel_id = ${channelId} and s.enabled = ${true}
    order by e.seq limit ${limit}`);
  return rows.map(toEvent);
}

export async function eventsInBatch(db: Database, batchId: string): Promise<EventRow[]> {
  const rows = await db.all(sql`select * from events where batch_id = ${batchId} and status = 'pending' order by seq`);
  return rows.map(toEvent);
}

export async function assignBatch(db: Database, seqs: readonly number[], batchId: string): Promise<void> {
  await db.run(sql`update events set batch_id = ${batchId} where seq in ${seqs}`);
}

const seqsOf = (batch: readonly EventRow[]) => batch.map((e) => e.seq);

/**
 * Records Discord's acceptance of a batch and each source's counters, in one transaction. With
 * `summaries`, the batch went out as that many flood summary embeds: its events are collapsed.
 */
export function markDelivered(db: Database, batch: readonly EventRow[], messageId: string, now: number, summaries?: number): Promise<void> {
  const collapsed = summaries !== undefined;
  return db.transaction(async (tx) => {
    await tx.run(sql`
      update events set status = ${collapsed ? 'collapsed' : 'delivered'}, delivered_at = ${now}, message_id = ${messageId}, last_error = null
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

/** The next try of a failed event: when, or `undefined` to give up. Decided by the delivery policy. */
export type NextAttempt = (event: EventRow) => number | undefined;

/**
 * A failure worth retrying: each event of the batch is tried again when `nextAttempt` says and keeps
 * its batch id, so the retry reuses the nonce in case Discord did post before the failure reached us.
 * An event `nextAttempt` gives up on is failed.
 */
export function markRetry(
  db: Database,
  batch: readonly EventRow[],
  reason: string,
  nextAttempt: NextAttempt,
  now: number,
): Promise<{ gaveUp: number }> {
  return db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    const givenUp: EventRow[] = [];
    for (const event of batch) {
      const at = nextAttempt(event);
      if (at === undefined) givenUp.push(event);
      else
        await tx.run(
          sql`update events set attempts = attempts + 1, next_attempt_at = ${at}, last_error = ${reason} where seq = ${event.seq}`,
        );
    }
    if (givenUp.length > 0) await failEvents(tx, givenUp, `gave up after ${givenUp[0]!.attempts + 1} attempts: ${reason}`, now);
    return { gaveUp: givenUp.length };
  });
}

/** The channel is on hold: the batch waits as it is, and its sources show why. */
export async function markHeld(db: Database, batch: readonly EventRow[], reason: string, now: number): Promise<void> {
  await db.transaction(async (tx) => {
    await noteSourceError(tx, batch, reason, now);
    await tx.run(sql`update events set last_error = ${reason} where seq in ${seqsOf(batch)}`);
  });
}

/** Discord refused for good (a request no drawing of the event can fix): not retried, shown by `info` and `log`. */
export function markFailed(db: Database, batch: readonly EventRow[], reason: string, now: number): Promise<void> {
  return db.transaction((tx) => failEvents(tx, batch, reason, now));
}

async function noteSourceError(db: Database, batch: readonly EventRow[], reason: string, now: number): Promise<void> {
  for (const [sourceId] of countBySource(batch)) {
    await db.run(sql`update sources set last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
  }
}

async function failEvents(db: Database, batch: readonly EventRow[], reason: string, now: number): Promise<void> {
  await db.run(sql`
    update events set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${now}
    where seq in ${seqsOf(batch)}`);
  for (const [sourceId, count] of countBySource(batch)) {
    await db.run(sql`
      update sources set events_failed = events_failed + ${count}, last_error = ${reason}, last_error_at = ${now}
      where id = ${sourceId}`);
  }
}

/** The next drawing of these events: 1 the built-in embed, 2 the generic embed. A new batch is formed for them. */
export async function redrawWith(db: Database, batch: readonly EventRow[], renderFallback: number): Promise<void> {
  await db.run(sql`update events set render_fallback = ${renderFallback}, batch_id = null, solo = ${true} where seq in ${seqsOf(batch)}`);
}

/** A refused flood summary: each of its types becomes a summary batch of its own. */
export async function splitSummary(db: Database, batch: readonly EventRow[], newBatchId: () => string): Promise<void> {
  const byType = new Map<string, number[]>();
  for (const event of batch) byType.set(event.eventType, [...(byType.get(event.eventType) ?? []), event.seq]);
  await db.transaction(async (tx) => {
    for (const seqs of byType.values()) await tx.run(sql`update events set batch_id = ${newBatchId()} where seq in ${seqs}`);
  });
}

/**
 * After a send succeeded following failures: every event waiting out a transient failure, in a
 * channel not on hold, is due at once (Discord is back, so there is nothing left to wait for).
 */
export async function wakeRetries(db: Database, now: number): Promise<number> {
  return db.run(sql`
    update events set next_attempt_at = ${now}
    where status = 'pending' and attempts > 0 and next_attempt_at > ${now} and channel_id not in (select channel_id from holds)`);
}

/**
 * `/dispatch source retry`: the source's waiting events are due now, and its failed events still
 * within retention are queued again, keeping their batch ids (so a batch Discord did post is
 * answered with the existing message, not posted twice).
 */
export async function retrySource(db: Database, sourceId: number, now: number): Promise<{ requeued: number; waiting: number }> {
  return db.transaction(async (tx) => {
    const requeued = await tx.run(sql`
      update events set status = 'pending', attempts = 0, next_attempt_at = ${now}, delivered_at = null, render_fallback = 0
      where source_id = ${sourceId} and status = 'failed'`);
    if (requeued > 0)
      await tx.run(
        sql`update sources set events_failed = case when events_failed > ${requeued} then events_failed - ${requeued} else 0 end where id = ${sourceId}`,
      );
    const waiting = await tx.run(sql`update events set next_attempt_at = ${now} where source_id = ${sourceId} and status = 'pending'`);
    return { requeued, waiting };
  });
}

/** Held events older than the retention give up: the hold was never fixed. */
export async function expireHeld(db: Database, olderThan: number, now: number): Promise<number> {
  const expired = (
    await db.all(sql`
      select * from events where status = 'pending' and received_at < ${olderThan} and channel_id in (select channel_id from holds)`)
  ).map(toEvent);
  if (expired.length > 0) await markFailed(db, expired, 'held for longer than EVENT_RETENTION: the channel was never fixed', now);
  return expired.length;
}

/** Discord found the batch invalid as a whole: send each event on its own to find the bad one. */
export async function splitBatch(db: Database, batch: readonly EventRow[]): Promise<void> {
  await db.run(sql`update events set solo = ${true}, batch_id = null, summary = ${false} where seq in ${seqsOf(batch)}`);
}

function countBySource(batch: readonly EventRow[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const event of batch) counts.set(event.sourceId, (counts.get(event.sourceId) ?? 0) + 1);
  return counts;
}

/** Deletes finished events older than the retention; pending ones are never pruned. */
export function pruneFinished(db: Database, olderThan: number): Promise<number> {
  return db.run(sql`delete from events where status in ('delivered', 'failed', 'collapsed') and delivered_at < ${olderThan}`);
}

export async function queueStats(db: Database, now: number): Promise<{ depth: number; oldestPendingAgeMs: number | null }> {
  const row = await db.get<{ depth: number; oldest: number | null }>(
    sql`select count(*) as depth, min(received_at) as oldest from events where status = 'pending'`,
  );
  return { depth: Number(row!.depth), oldestPendingAgeMs: row!.oldest === null ? null : now - Number(row!.oldest) };
}

/** How many of a source's events wait, and since when: what the flood rule looks at. */
export async function backlogOfSource(db: Database, sourceId: number): Promise<{ waiting: number; oldestReceivedAt: number | null }> {
  const row = await db.get<{ waiting: number; oldest: number | null }>(
    sql`select count(*) as waiting, min(received_at) as oldest from events where source_id = ${sourceId} and status = 'pending'`,
  );
  return { waiting: Number(row!.waiting), oldestReceivedAt: row!.oldest === null ? null : Number(row!.oldest) };
}

/** Waiting events of one source not yet in a batch, by type, oldest type first. */
export async function waitingByType(
  db: Database,
  sourceId: number,
): Promise<{ eventType: string; count: number; firstReceivedAt: number; lastReceivedAt: number }[]> {
  const rows = await db.all<{ event_type: string; n: number; first: number; last: number }>(sql`
    select event_type, count(*) as n, min(received_at) as first, max(received_at) as last from events
    where source_id = ${sourceId} and status = 'pending' and batch_id is null
    group by event_type order by min(seq)`);
  return rows.map((r) => ({
    eventType: r.event_type,
    count: Number(r.n),
    firstReceivedAt: Number(r.first),
    lastReceivedAt: Number(r.last),
  }));
}

/** Puts every waiting, unbatched event of each group of types into one summary batch per group. */
export async function assignSummaryBatches(
  db: Database,
  sourceId: number,
  groups: readonly { batchId: string; eventTypes: readonly string[] }[],
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const { batchId, eventTypes } of groups) {
      await tx.run(sql`
        update events set batch_id = ${batchId}, summary = ${true}
        where source_id = ${sourceId} and status = 'pending' and batch_id is null and event_type in ${eventTypes}`);
    }
  });
}

/** The latest waiting, unbatched events of one type of a source, newest last. */
export async function latestWaitingOfType(db: Database, sourceId: number, eventType: string, limit: number): Promise<EventRow[]> {
  const rows = await db.all(sql`
    select * from events where source_id = ${sourceId} and status = 'pending' and batch_id is null and event_type = ${eventType}
    order by seq desc limit ${limit}`);
  return rows.map(toEvent).reverse();
}

/** A source's latest events, newest first: what `/dispatch source log` shows. */
export async function recentEvents(db: Database, sourceId: number, limit: number): Promise<EventRow[]> {
  return (await db.all(sql`select * from events where source_id = ${sourceId} order by seq desc limit ${limit}`)).map(toEvent);
}

/**
 * The latest event of a source matching an event pattern (`issue.created`, `issue.*` or `*`).
 * The resource of `resource.*` is matched literally: `_` and `%` are not wildcards here.
 */
export async function lastEventMatching(db: Database, sourceId: number, pattern: string): Promise<EventRow | undefined> {
  const match =
    pattern === '*'
      ? sql``
      : pattern.endsWith('.*')
        ? sql`and substr(event_type, 1, ${pattern.length - 1}) = ${pattern.slice(0, -1)}`
        : sql`and event_type = ${pattern}`;
  const row = await db.get(sql`select * from events where source_id = ${sourceId} ${match} order by seq desc limit 1`);
  return row ? toEvent(row) : undefined;
}
