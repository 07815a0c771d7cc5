import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { enqueue, lockSources, type NewDelivery } from './delivery-state/index.js';
import { deliveries, events, type DeliveryRow, type EventRow } from './schema.js';
import type { CardKey, EventSeq, RouteId, SourceId } from '../ids.js';
import { isOwnEvent } from '../own-events.js';
import { withDirectMessages } from '../people/dm-routing.js';
import type { Level } from '../sentry/facts.js';

export interface AcceptedEvent {
  id: string;
  /** True when the same bytes already reached this source: nothing new was stored. */
  duplicate: boolean;
  /** How many deliveries it was written with (a route removed since the look-up takes none). */
  delivered: number;
}

function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface IncomingEvent {
  sourceId: SourceId;
  eventType: string;
  /** What quiet hours look at: the event's level (its type is `eventType`). */
  level?: Level;
  /** The exact bytes the signature covered: what deduplication compares. */
  body: Buffer;
  /** The same bytes decoded (once, by the route): what is stored. */
  text: string;
  /**
   * The routes whose filters let it through: a delivery each (pending or quiet as the route is when
   * it is written); `solo` for a route whose deliveries always go alone (a member's DM).
   */
  routes: readonly { id: RouteId; solo?: boolean }[];
  /** The routes whose filters kept it out. */
  filteredBy: readonly RouteId[];
  /** The card it is about on card routes (`issue:<id>`, `incident:<id>`), if any. */
  cardKey?: CardKey;
  /** Its deliveries go alone, never batched or summarized (a digest). */
  solo?: boolean;
  /**
   * When it arrived, if that was before it is stored (a webhook kept in the spool while the
   * database was away): what its dedupe window is judged from (`arrived_at`). Its `received_at` is
   * the time it is stored all the same, so that it rises with `seq`: periods and retention are
   * found as seq ranges by it.
   */
  arrivedAt?: number;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** The source was deleted between the webhook's look-up and its write: answered as any unknown source. */
export class SourceGone extends Error {
  constructor(readonly sourceId: SourceId) {
    super(`source ${sourceId} was deleted`);
  }
}

export const toEvent = (row: Record<string, unknown>): EventRow => fromRow(events, row);

/**
 * Stores accepted webhooks and their deliveries in one transaction, so that once this returns every
 * stored one survives a crash. Each delivery's first state (pending, or quiet) is decided by
 * delivery-state/ from the route as it is in this transaction.
 *
 * The group is written with one multi-row insert of events and one of deliveries: a statement
 * costs a round trip to Postgres, and the same rows one by one cost several per event. If any of
 * it fails, that attempt is undone and each event is written again under its own savepoint, so the
 * one that fails is undone and reported alone and the others commit.
 *
 * An identical body for the same source within `dedupeWindowMs` is the same event: it is counted
 * as a duplicate and answered with the first one's id. After the window the old event stops being
 * matched and the same bytes are a new event (a re-resolved issue with nothing new, say). The
 * window is judged between the times the two arrived (`arrivedAt`: a spooled event's is when it
 * reached the replica, not when the spool is drained), either way round.
 */
export function acceptEvents(
  db: Database,
  inputs: readonly IncomingEvent[],
  now: number,
  dedupeWindowMs: number,
): Promise<Settled<AcceptedEvent>[]> {
  return db.transaction(async (tx) => {
    // The sources first, in id order: no route change can commit between the read of the routes and this commit.
    const sourceIds = [...new Set(inputs.map((input) => input.sourceId))];
    await lockSources(tx, sourceIds);
    const live = await liveSources(tx, sourceIds);
    // The linked members an event is about also get it as a DM, written with it (src/people/dm-routing.ts).
    const routed: IncomingEvent[] = [];
    for (const input of inputs) routed.push(live.has(input.sourceId) ? await withDirectMessages(tx, input, now) : input);
    let results: Settled<AcceptedEvent>[];
    const accepting = routed.filter((input) => live.has(input.sourceId));
    try {
      const together = await tx.transaction((group) => acceptTogether(group, accepting, now, dedupeWindowMs));
      results = inputs.map((input) =>
        live.has(input.sourceId) ? together.shift()! : { ok: false, error: new SourceGone(input.sourceId) },
      );
    } catch {
      results = [];
      for (const input of routed) {
        if (!live.has(input.sourceId)) {
          results.push({ ok: false, error: new SourceGone(input.sourceId) });
          continue;
        }
        try {
          results.push({ ok: true, value: await tx.transaction((one) => acceptOne(one, input, now, dedupeWindowMs)) });
        } catch (error) {
          results.push({ ok: false, error });
        }
      }
    }
    // One counter update per source, not per event: a burst from one source is one write.
    const receivedBySource = new Map<SourceId, number>();
    results.forEach((result, i) => {
      if (!result.ok || result.value.duplicate || isOwnEvent(inputs[i]!.eventType)) return;
      const sourceId = inputs[i]!.sourceId;
      receivedBySource.set(sourceId, (receivedBySource.get(sourceId) ?? 0) + 1);
    });
    // In id order, like every counter update: two group commits in flight never lock sources in opposite orders (Postgres).
    for (const [sourceId, count] of [...receivedBySource].sort(([a], [b]) => a - b)) {
      await tx.run(sql`update sources set events_received = events_received + ${count}, last_event_at = ${now} where id = ${sourceId}`);
    }
    return results;
  });
}

async function liveSources(tx: Database, ids: readonly SourceId[]): Promise<Set<SourceId>> {
  if (ids.length === 0) return new Set();
  const rows = await tx.all<{ id: number }>(sql`select id from sources where id in ${ids} and deleted_at is null`);
  return new Set(rows.map((r) => Number(r.id) as SourceId));
}

/** Rows per multi-row statement: well within SQLite's 32,766 bound parameters (7 per event). */
const ROWS_PER_STATEMENT = 500;

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** The deliveries of a stored event, for delivery-state/ to write. */
const deliveriesOf = (seq: number, input: IncomingEvent): NewDelivery[] =>
  input.routes.map((route) => ({
    eventSeq: seq as EventSeq,
    routeId: route.id,
    cardKey: input.cardKey ?? null,
    kind: { type: input.eventType, level: input.level },
    solo: (input.solo ?? false) || route.solo === true,
  }));

/**
 * Writes the deliveries; those of a route removed meanwhile are counted as dropped on the source.
 * Resolves with how many were written per event.
 */
async function writeDeliveries(
  db: Database,
  rows: readonly NewDelivery[],
  sourceOf: (row: NewDelivery) => SourceId,
  now: number,
): Promise<Map<number, number>> {
  const { gone } = await enqueue(db, rows, now);
  // Sentry's events only: Dispatch's own (a read-back, a click, a digest) were never the source's events.
  const dropped = new Map<SourceId, number>();
  for (const row of gone.filter((r) => !isOwnEvent(r.kind.type))) dropped.set(sourceOf(row), (dropped.get(sourceOf(row)) ?? 0) + 1);
  for (const [sourceId, count] of [...dropped].sort(([a], [b]) => a - b))
    await db.run(sql`update sources set events_dropped = events_dropped + ${count} where id = ${sourceId}`);
  const written = new Map<number, number>();
  for (const row of rows) written.set(row.eventSeq, (written.get(row.eventSeq) ?? 0) + 1);
  for (const row of gone) written.set(row.eventSeq, written.get(row.eventSeq)! - 1);
  // An own event for a card whose route went meanwhile has nothing to show it: it is not kept.
  const orphans = rows.filter((r) => isOwnEvent(r.kind.type) && written.get(r.eventSeq) === 0).map((r) => r.eventSeq);
  if (orphans.length > 0) await db.run(sql`delete from events where seq in ${[...new Set(orphans)]}`);
  return written;
}

/** The whole group in a few statements; throws if any of it fails (the caller then goes one by one). */
async function acceptTogether(
  db: Database,
  inputs: readonly IncomingEvent[],
  now: number,
  dedupeWindowMs: number,
): Promise<Settled<AcceptedEvent>[]> {
  const rows = inputs.map((input) => ({ input, id: randomUUID(), hash: hashBody(input.body) }));
  const seqOf = new Map<string, number>();
  for (const chunk of chunked(rows, ROWS_PER_STATEMENT)) {
    const values = chunk.map(
      ({ input, id, hash }) =>
        sql`(${id}, ${input.sourceId}, ${input.eventType}, ${hash}, ${input.text}, ${now}, ${input.arrivedAt ?? null}, ${JSON.stringify(input.filteredBy)})`,
    );
    const inserted = await db.all<{ id: string; seq: number }>(sql`
      insert into events (id, source_id, event_type, body_hash, body, received_at, arrived_at, filtered_by)
      values ${sql.join(values, sql`, `)}
      on conflict (source_id, body_hash) where deduped do nothing returning id, seq`);
    for (const row of inserted) seqOf.set(row.id, Number(row.seq));
  }
  const sourceOfSeq = new Map<number, SourceId>();
  const deliveryRows = rows.flatMap(({ input, id }) => {
    const seq = seqOf.get(id);
    if (seq === undefined) return [];
    sourceOfSeq.set(seq, input.sourceId);
    return deliveriesOf(seq, input);
  });
  const written = await writeDeliveries(db, deliveryRows, (row) => sourceOfSeq.get(row.eventSeq)!, now);
  const filteredByRoute = new Map<RouteId, number>();
  for (const { input, id } of rows) {
    if (!seqOf.has(id)) continue;
    for (const routeId of input.filteredBy) filteredByRoute.set(routeId, (filteredByRoute.get(routeId) ?? 0) + 1);
  }
  for (const [routeId, count] of [...filteredByRoute].sort(([a], [b]) => a - b)) {
    await db.run(sql`update routes set events_filtered = events_filtered + ${count} where id = ${routeId}`);
  }
  // Not inserted: the same bytes are already stored (earlier, or earlier in this group). Rare: one by one.
  const results: Settled<AcceptedEvent>[] = [];
  for (const { input, id } of rows) {
    const seq = seqOf.get(id);
    if (seq !== undefined) results.push({ ok: true, value: { id, duplicate: false, delivered: written.get(seq) ?? 0 } });
    else results.push({ ok: true, value: await acceptOne(db, input, now, dedupeWindowMs) });
  }
  return results;
}

async function acceptOne(db: Database, input: IncomingEvent, now: number, dedupeWindowMs: number): Promise<AcceptedEvent> {
  const bodyHash = hashBody(input.body);
  const arrived = input.arrivedAt ?? now;
  const insert = (deduped = true) =>
    db.get<{ id: string; seq: number }>(sql`
      insert into events (id, source_id, event_type, body_hash, body, received_at, arrived_at, filtered_by, deduped)
      values (${randomUUID()}, ${input.sourceId}, ${input.eventType}, ${bodyHash}, ${input.text}, ${now}, ${input.arrivedAt ?? null}, ${JSON.stringify(input.filteredBy)}, ${deduped})
      on conflict (source_id, body_hash) where deduped do nothing returning id, seq`);
  let inserted = await insert();
  if (!inserted) {
    const earlier = (await db.get<{ id: string; arrived_at: number }>(
      sql`select id, coalesce(arrived_at, received_at) as arrived_at from events where source_id = ${input.sourceId} and body_hash = ${bodyHash} and deduped`,
    ))!;
    if (Math.abs(arrived - Number(earlier.arrived_at)) < dedupeWindowMs) {
      await db.run(sql`update events set duplicates = duplicates + 1, last_duplicate_at = ${now} where id = ${earlier.id}`);
      return { id: earlier.id, duplicate: true, delivered: 0 };
    }
    if (arrived > Number(earlier.arrived_at)) {
      // Only on a conflict, so a new event costs one statement: the old one stops being matched.
      await db.run(sql`update events set deduped = ${false} where id = ${earlier.id}`);
      inserted = (await insert())!;
    } else {
      // Drained from a spool long after a later copy was stored: the later one stays the one matched.
      inserted = (await insert(false))!;
    }
  }
  const written = await writeDeliveries(db, deliveriesOf(Number(inserted.seq), input), () => input.sourceId, now);
  if (input.filteredBy.length > 0)
    await db.run(sql`update routes set events_filtered = events_filtered + 1 where id in ${input.filteredBy}`);
  return { id: inserted.id, duplicate: false, delivered: written.get(Number(inserted.seq)) ?? 0 };
}
