import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { deliveries, events, type DeliveryRow, type EventRow } from './schema.js';

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
  eventType: string;
  /** The exact bytes the signature covered: what deduplication compares. */
  body: Buffer;
  /** The same bytes decoded (once, by the route): what is stored. */
  text: string;
  /** The routes whose filters let it through: a delivery each. */
  routes: readonly { id: number; channelId: string }[];
  /** The routes whose filters kept it out. */
  filteredBy: readonly number[];
  /** The card it is about on card routes (`issue:<id>`, `incident:<id>`), if any. */
  cardKey?: string;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const toEvent = (row: Record<string, unknown>): EventRow => fromRow(events, row);

/**
 * Stores accepted webhooks and their deliveries in one transaction, so that once this returns every
 * stored one survives a crash. Each event is written under its own savepoint: one that fails (its
 * source was just deleted, say) is undone alone and reported alone, and the others commit.
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
    db.get<{ id: string; seq: number }>(sql`
      insert into events (id, source_id, event_type, body_hash, body, received_at, filtered_by)
      values (${randomUUID()}, ${input.sourceId}, ${input.eventType}, ${bodyHash}, ${input.text}, ${now}, ${JSON.stringify(input.filteredBy)})
      on conflict (source_id, body_hash) where deduped do nothing returning id, seq`);
  let inserted = await insert();
  if (!inserted) {
    const earlier = (await db.get<{ id: string; received_at: number }>(
      sql`select id, received_at from events where source_id = ${input.sourceId} and body_hash = ${bodyHash} and deduped`,
    ))!;
    if (now - Number(earlier.received_at) < dedupeWindowMs) {
      await db.run(sql`update events set duplicates = duplicates + 1, last_duplicate_at = ${now} where id = ${earlier.id}`);
      return { id: earlier.id, duplicate: true };
    }
    // Only on a conflict, so a new event costs one statement: the old one stops being matched.
    await db.run(sql`update events set deduped = ${false} where id = ${earlier.id}`);
    inserted = (await insert())!;
  }
  for (const route of input.routes) {
    await db.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, card_key, next_attempt_at)
      values (${inserted.seq}, ${route.id}, ${route.channelId}, ${input.cardKey ?? null}, ${now})`);
  }
  if (input.filteredBy.length > 0)
    await db.run(sql`update routes set events_filtered = events_filtered + 1 where id in ${input.filteredBy}`);
  return { id: inserted.id, duplicate: false };
}

/** A source's latest events with their deliveries, newest first: what `/dispatch source log` shows. */
export async function recentEvents(
  db: Database,
  sourceId: number,
  limit: number,
): Promise<{ event: EventRow; deliveries: DeliveryRow[] }[]> {
  const recent = (await db.all(sql`select * from events where source_id = ${sourceId} order by seq desc limit ${limit}`)).map(toEvent);
  if (recent.length === 0) return [];
  const rows = (await db.all(sql`select * from deliveries where event_seq in ${recent.map((e) => e.seq)} order by seq`)).map((r) =>
    fromRow(deliveries, r),
  );
  return recent.map((event) => ({ event, deliveries: rows.filter((d) => d.eventSeq === event.seq) }));
}

/** A source's latest events, for the dry run of its routes. */
export async function latestEvents(db: Database, sourceId: number, limit: number): Promise<EventRow[]> {
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

/** Deletes events older than the retention with nothing left to deliver (their deliveries go with them). */
export function pruneFinished(db: Database, olderThan: number): Promise<number> {
  return db.run(sql`
    delete from events where received_at < ${olderThan}
    and not exists (select 1 from deliveries d where d.event_seq = events.seq and d.status = 'pending')`);
}
