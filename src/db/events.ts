import { createHash, randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, lt, min, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { events, sources, type EventRow } from './schema.js';

export interface AcceptedEvent {
  id: string;
  /** True when the same bytes already reached this source: nothing new was stored. */
  duplicate: boolean;
}

export function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface IncomingEvent {
  sourceId: number;
  channelId: string;
  eventType: string;
  body: Buffer;
}

/**
 * Stores accepted webhooks with their delivery jobs in one transaction, so that once this returns
 * every one of them survives a crash. An identical body for the same source is stored once.
 */
export function acceptEvents(db: Db, inputs: readonly IncomingEvent[], now = Date.now()): AcceptedEvent[] {
  const q = acceptQueries(db);
  return q.transaction(inputs, now);
}

export function acceptEvent(db: Db, input: IncomingEvent, now = Date.now()): AcceptedEvent {
  return acceptEvents(db, [input], now)[0]!;
}

const p = sql.placeholder;

function acceptQueries(db: Db) {
  return prepared(db, 'accept', () => {
    const statements = buildAcceptStatements(db);
    const transaction = db.$client.transaction((inputs: readonly IncomingEvent[], now: number): AcceptedEvent[] => {
      const receivedBySource = new Map<number, number>();
      const accepted = inputs.map((input) => {
        const bodyHash = hashBody(input.body);
        const inserted = statements.insert.get({
          id: randomUUID(),
          sourceId: input.sourceId,
          channelId: input.channelId,
          eventType: input.eventType,
          bodyHash,
          body: input.body.toString('utf8'),
          now,
        });
        if (!inserted) return { id: statements.idByHash.get({ sourceId: input.sourceId, bodyHash })!.id, duplicate: true };
        receivedBySource.set(input.sourceId, (receivedBySource.get(input.sourceId) ?? 0) + 1);
        return { id: inserted.id, duplicate: false };
      });
      // One counter update per source, not per event: a burst from one source is one write.
      for (const [sourceId, count] of receivedBySource) statements.countReceived.run({ sourceId, count, now });
      return accepted;
    });
    return { transaction };
  });
}

/**
 * The webhook path's statements, in SQL rather than through Drizzle: they run for every request,
 * and Drizzle's wrappers cost more than the statements themselves (see bench/ and the README).
 * Column names are the schema's; the schema tests and migrations keep them in step.
 */
function buildAcceptStatements(db: Db) {
  const sqlite = db.$client;
  const insert = sqlite.prepare<
    { id: string; sourceId: number; channelId: string; eventType: string; bodyHash: string; body: string; now: number },
    { id: string }
  >(
    `insert into events (id, source_id, channel_id, event_type, body_hash, body, received_at, next_attempt_at)
     values (@id, @sourceId, @channelId, @eventType, @bodyHash, @body, @now, @now)
     on conflict (source_id, body_hash) do nothing returning id`,
  );
  const idByHash = sqlite.prepare<{ sourceId: number; bodyHash: string }, { id: string }>(
    'select id from events where source_id = @sourceId and body_hash = @bodyHash',
  );
  const countReceived = sqlite.prepare<{ sourceId: number; count: number; now: number }>(
    'update sources set events_received = events_received + @count, last_event_at = @now where id = @sourceId',
  );
  return { insert, idByHash, countReceived };
}

function queueQueries(db: Db) {
  const pendingInChannel = (limit: number | ReturnType<typeof p>) =>
    db
      .select({ event: events })
      .from(events)
      .innerJoin(sources, eq(sources.id, events.sourceId))
      .where(and(eq(events.status, 'pending'), eq(events.channelId, p('channelId')), eq(sources.enabled, true)))
      .orderBy(asc(events.seq))
      .limit(limit);
  return prepared(db, 'queue', () => ({
    channels: db.selectDistinct({ channelId: sources.channelId }).from(sources).where(eq(sources.enabled, true)).prepare(),
    head: pendingInChannel(1).prepare(),
    pending: pendingInChannel(p('limit')).prepare(),
  }));
}

/**
 * The oldest pending event of every channel whose source is enabled: the only ones that may go next.
 * One indexed look-up per channel rather than a scan of the whole backlog.
 */
export function pendingHeads(db: Db): EventRow[] {
  const q = queueQueries(db);
  return q.channels
    .all()
    .flatMap(({ channelId }) => q.head.all({ channelId }).map((r) => r.event))
    .sort((a, b) => a.seq - b.seq);
}

/** Pending events of a channel in arrival order, starting at the head. */
export function pendingForChannel(db: Db, channelId: string, limit: number): EventRow[] {
  return queueQueries(db)
    .pending.all({ channelId, limit })
    .map((r) => r.event);
}

export function eventsInBatch(db: Db, batchId: string): EventRow[] {
  return db
    .select()
    .from(events)
    .where(and(eq(events.batchId, batchId), eq(events.status, 'pending')))
    .orderBy(asc(events.seq))
    .all();
}

export function assignBatch(db: Db, seqs: number[], batchId: string): void {
  db.update(events).set({ batchId }).where(inArray(events.seq, seqs)).run();
}

/**
 * Records Discord's acceptance of a batch and each source's counters, in one transaction. With
 * `summaries`, the batch went out as that many flood summary embeds: its events are collapsed.
 */
export function markDelivered(db: Db, batch: EventRow[], messageId: string, now = Date.now(), summaries?: number): void {
  const collapsed = summaries !== undefined;
  db.transaction((tx) => {
    tx.update(events)
      .set({ status: collapsed ? 'collapsed' : 'delivered', deliveredAt: now, messageId, lastError: null })
      .where(
        inArray(
          events.seq,
          batch.map((e) => e.seq),
        ),
      )
      .run();
    for (const [sourceId, count] of countBySource(batch)) {
      const counters = collapsed
        ? {
            eventsCollapsed: sql`${sources.eventsCollapsed} + ${count}`,
            floodSummaries: sql`${sources.floodSummaries} + ${summaries}`,
            lastFloodAt: now,
          }
        : { eventsDelivered: sql`${sources.eventsDelivered} + ${count}` };
      tx.update(sources)
        .set({ ...counters, permanentFailureStreak: 0 })
        .where(eq(sources.id, sourceId))
        .run();
    }
  });
}

/**
 * A failure worth retrying: each event of the batch waits `retrySchedule[attempts]` and keeps its
 * batch id, so the retry reuses the nonce in case Discord did post before the failure reached us.
 * Past the end of the schedule the event is failed.
 */
export function markRetry(
  db: Db,
  batch: EventRow[],
  reason: string,
  retrySchedule: readonly number[],
  now = Date.now(),
): { gaveUp: number } {
  let gaveUp = 0;
  db.transaction((tx) => {
    for (const [sourceId] of countBySource(batch)) {
      tx.update(sources).set({ lastError: reason, lastErrorAt: now }).where(eq(sources.id, sourceId)).run();
    }
    for (const event of batch) {
      const attempts = event.attempts + 1;
      const wait = retrySchedule[attempts - 1];
      if (wait === undefined) {
        failEvents(tx as unknown as Db, [event], `gave up after ${attempts} attempts: ${reason}`, now, false);
        gaveUp += 1;
        continue;
      }
      tx.update(events)
        .set({ attempts, nextAttemptAt: now + wait, lastError: reason })
        .where(eq(events.seq, event.seq))
        .run();
    }
  });
  return { gaveUp };
}

/** Discord refused for good (missing access, unknown channel...): not retried, shown by `info`. */
export function markPermanentFailure(db: Db, batch: EventRow[], reason: string, now = Date.now()): void {
  db.transaction((tx) => failEvents(tx as unknown as Db, batch, reason, now, true));
}

function failEvents(db: Db, batch: EventRow[], reason: string, now: number, permanent: boolean): void {
  db.update(events)
    .set({ status: 'failed', attempts: sql`${events.attempts} + 1`, lastError: reason, deliveredAt: now })
    .where(
      inArray(
        events.seq,
        batch.map((e) => e.seq),
      ),
    )
    .run();
  for (const [sourceId, count] of countBySource(batch)) {
    db.update(sources)
      .set({
        eventsFailed: sql`${sources.eventsFailed} + ${count}`,
        lastError: reason,
        lastErrorAt: now,
        ...(permanent ? { permanentFailureStreak: sql`${sources.permanentFailureStreak} + 1` } : {}),
      })
      .where(eq(sources.id, sourceId))
      .run();
  }
}

/** Discord found the batch invalid as a whole: send each event on its own to find the bad one. */
export function splitBatch(db: Db, batch: EventRow[]): void {
  db.update(events)
    .set({ solo: true, batchId: null, summary: false })
    .where(
      inArray(
        events.seq,
        batch.map((e) => e.seq),
      ),
    )
    .run();
}

function countBySource(batch: EventRow[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const event of batch) counts.set(event.sourceId, (counts.get(event.sourceId) ?? 0) + 1);
  return counts;
}

/** Deletes finished events older than the retention; pending ones are never pruned. */
export function pruneFinished(db: Db, olderThan: number): number {
  return db
    .delete(events)
    .where(and(inArray(events.status, ['delivered', 'failed', 'collapsed']), lt(events.deliveredAt, olderThan)))
    .run().changes;
}

export function queueStats(db: Db, now = Date.now()): { depth: number; oldestPendingAgeMs: number | null } {
  const row = db
    .select({ depth: sql<number>`count(*)`, oldest: min(events.receivedAt) })
    .from(events)
    .where(eq(events.status, 'pending'))
    .get()!;
  return { depth: row.depth, oldestPendingAgeMs: row.oldest === null ? null : now - row.oldest };
}

export function pendingCountForSource(db: Db, sourceId: number): number {
  return db
    .select({ n: sql<number>`count(*)` })
    .from(events)
    .where(and(eq(events.sourceId, sourceId), eq(events.status, 'pending')))
    .get()!.n;
}

/** Waiting events of one source not yet in a batch, by type, oldest type first. */
export function waitingByType(db: Db, sourceId: number): { eventType: string; count: number; firstSeq: number }[] {
  return db
    .select({ eventType: events.eventType, count: sql<number>`count(*)`, firstSeq: min(events.seq).mapWith(Number) })
    .from(events)
    .where(and(eq(events.sourceId, sourceId), eq(events.status, 'pending'), isNull(events.batchId)))
    .groupBy(events.eventType)
    .orderBy(min(events.seq))
    .all() as { eventType: string; count: number; firstSeq: number }[];
}

/** Puts every waiting, unbatched event of these types into one summary batch, and returns them. */
export function assignSummaryBatch(db: Db, sourceId: number, eventTypes: string[], batchId: string): EventRow[] {
  return db.transaction((tx) => {
    tx.update(events)
      .set({ batchId, summary: true })
      .where(
        and(eq(events.sourceId, sourceId), eq(events.status, 'pending'), isNull(events.batchId), inArray(events.eventType, eventTypes)),
      )
      .run();
    return tx.select().from(events).where(eq(events.batchId, batchId)).orderBy(asc(events.seq)).all();
  });
}

/** The oldest waiting event of a source, for the flood state shown by `info`. */
export function oldestPendingForSource(db: Db, sourceId: number): number | null {
  return (
    db
      .select({ oldest: min(events.receivedAt) })
      .from(events)
      .where(and(eq(events.sourceId, sourceId), eq(events.status, 'pending')))
      .get()?.oldest ?? null
  );
}

/** The latest event of a source matching `issue.created`, `issue.*` or `*`. */
export function lastEventMatching(db: Db, sourceId: number, pattern: string): EventRow | undefined {
  const match =
    pattern === '*'
      ? undefined
      : pattern.endsWith('.*')
        ? sql`${events.eventType} like ${`${pattern.slice(0, -2)}.%`}`
        : eq(events.eventType, pattern);
  return db
    .select()
    .from(events)
    .where(and(eq(events.sourceId, sourceId), match))
    .orderBy(sql`${events.seq} desc`)
    .limit(1)
    .get();
}
