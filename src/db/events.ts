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

/**
 * Stores accepted webhooks with their delivery jobs in one transaction, so that once this returns
 * every one of them survives a crash. An identical body for the same source is stored once.
 */
export function acceptEvents(db: Database, inputs: readonly IncomingEvent[], now: number): Promise<AcceptedEvent[]> {
  return db.transaction(async (tx) => {
    const receivedBySource = new Map<number, number>();
    const accepted: AcceptedEvent[] = [];
    for (const input of inputs) {
      const bodyHash = hashBody(input.body);
      const inserted = await tx.get<{ id: string }>(sql`
        insert into events (id, source_id, channel_id, event_type, body_hash, body, received_at, next_attempt_at)
        values (${randomUUID()}, ${input.sourceId}, ${input.channelId}, ${input.eventType}, ${bodyHash}, ${input.text}, ${now}, ${now})
        on conflict (source_id, body_hash) do nothing returning id`);
      if (inserted) {
        receivedBySource.set(input.sourceId, (receivedBySource.get(input.sourceId) ?? 0) + 1);
        accepted.push({ id: inserted.id, duplicate: false });
      } else {
        const earlier = await tx.get<{ id: string }>(
          sql`select id from events where source_id = ${input.sourceId} and body_hash = ${bodyHash}`,
        );
        accepted.push({ id: earlier!.id, duplicate: true });
      }
    }
    // One counter update per source, not per event: a burst from one source is one write.
    for (const [sourceId, count] of receivedBySource) {
      await tx.run(sql`update sources set events_received = events_received + ${count}, last_event_at = ${now} where id = ${sourceId}`);
    }
    return accepted;
  });
}

/**
 * The oldest pending event of every channel whose source is enabled: the only ones that may go next.
 * One indexed look-up per channel rather than a scan of the whole backlog.
 */
export async function pendingHeads(db: Database): Promise<EventRow[]> {
  const channels = await db.all<{ channel_id: string }>(sql`select distinct channel_id from sources where enabled = ${true}`);
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
                last_flood_at = ${now}, permanent_failure_streak = 0 where id = ${sourceId}`
          : sql`update sources set events_delivered = events_delivered + ${count}, permanent_failure_streak = 0 where id = ${sourceId}`,
      );
    }
  });
}

/** The next try of a failed batch: when, or `undefined` to give up. Decided by the delivery policy. */
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
    for (const [sourceId] of countBySource(batch)) {
      await tx.run(sql`update sources set last_error = ${reason}, last_error_at = ${now} where id = ${sourceId}`);
    }
    const givenUp: EventRow[] = [];
    for (const event of batch) {
      const at = nextAttempt(event);
      if (at === undefined) givenUp.push(event);
      else
        await tx.run(
          sql`update events set attempts = attempts + 1, next_attempt_at = ${at}, last_error = ${reason} where seq = ${event.seq}`,
        );
    }
    if (givenUp.length > 0) await failEvents(tx, givenUp, `gave up after ${givenUp[0]!.attempts + 1} attempts: ${reason}`, now, false);
    return { gaveUp: givenUp.length };
  });
}

/** Discord refused for good (missing access, unknown channel...): not retried, shown by `info`. */
export function markPermanentFailure(db: Database, batch: readonly EventRow[], reason: string, now: number): Promise<void> {
  return db.transaction((tx) => failEvents(tx, batch, reason, now, true));
}

async function failEvents(db: Database, batch: readonly EventRow[], reason: string, now: number, permanent: boolean): Promise<void> {
  await db.run(sql`
    update events set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${now}
    where seq in ${seqsOf(batch)}`);
  for (const [sourceId, count] of countBySource(batch)) {
    await db.run(sql`
      update sources set events_failed = events_failed + ${count}, last_error = ${reason}, last_error_at = ${now},
        permanent_failure_streak = permanent_failure_streak + ${permanent ? 1 : 0}
      where id = ${sourceId}`);
  }
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
export async function waitingByType(db: Database, sourceId: number): Promise<{ eventType: string; count: number }[]> {
  const rows = await db.all<{ event_type: string; n: number }>(sql`
    select event_type, count(*) as n from events
    where source_id = ${sourceId} and status = 'pending' and batch_id is null
    group by event_type order by min(seq)`);
  return rows.map((r) => ({ eventType: r.event_type, count: Number(r.n) }));
}

/** Puts every waiting, unbatched event of these types into one summary batch, and returns them. */
export function assignSummaryBatch(db: Database, sourceId: number, eventTypes: readonly string[], batchId: string): Promise<EventRow[]> {
  return db.transaction(async (tx) => {
    await tx.run(sql`
      update events set batch_id = ${batchId}, summary = ${true}
      where source_id = ${sourceId} and status = 'pending' and batch_id is null and event_type in ${eventTypes}`);
    return (await tx.all(sql`select * from events where batch_id = ${batchId} order by seq`)).map(toEvent);
  });
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
