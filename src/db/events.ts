import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { deliveries, events, type DeliveryRow, type EventRow } from './schema.js';
import type { CardKey, ChannelId, EventId, RouteId, SourceId } from '../ids.js';
import { isOwnEvent } from '../sentry/event-type.js';

export interface AcceptedEvent {
  id: string;
  /** True when the same bytes already reached this source: nothing new was stored. */
  duplicate: boolean;
}

function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface IncomingEvent {
  sourceId: SourceId;
  eventType: string;
  /** The exact bytes the signature covered: what deduplication compares. */
  body: Buffer;
  /** The same bytes decoded (once, by the route): what is stored. */
  text: string;
  /** The routes whose filters let it through: a delivery each, held or muted by the route's quiet hours (see `quietTreatment`). */
  routes: readonly { id: RouteId; channelId: ChannelId; quiet?: 'held' | 'muted' }[];
  /** The routes whose filters kept it out. */
  filteredBy: readonly RouteId[];
  /** The card it is about on card routes (`issue:<id>`, `incident:<id>`), if any. */
  cardKey?: CardKey;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const toEvent = (row: Record<string, unknown>): EventRow => fromRow(events, row);

/**
 * Stores accepted webhooks and their deliveries in one transaction, so that once this returns every
 * stored one survives a crash.
 *
 * The group is written with one multi-row insert of events and one of deliveries: a statement
 * costs a round trip to Postgres, and the same rows one by one cost several per event. If any of
 * it fails (an event whose source was just deleted, say), that attempt is undone and each event is
 * written again under its own savepoint, so the one that fails is undone and reported alone and the
 * others commit.
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
    let results: Settled<AcceptedEvent>[];
    try {
      results = await tx.transaction((together) => acceptTogether(together, inputs, now, dedupeWindowMs));
    } catch {
      results = [];
      for (const input of inputs) {
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

/** Rows per multi-row statement: well within SQLite's 32,766 bound parameters (7 per event). */
const ROWS_PER_STATEMENT = 500;

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * One delivery's row. Its channel and whether it waits paused are read from the route and the
 * source as they are now, in the transaction: the webhook's copy of them may be up to a second old
 * (another replica moved the route, or disabled the source, meanwhile).
 */
function deliveryRow(seq: number, route: IncomingEvent['routes'][number], input: IncomingEvent, now: number) {
  const channel = sql`coalesce((select r.channel_id from routes r where r.id = ${route.id}), ${route.channelId})`;
  const waiting = route.quiet === 'held' ? 'held' : 'pending';
  const status = sql`(select case when s.enabled then ${waiting} else 'paused' end from sources s where s.id = ${input.sourceId})`;
  return sql`(${seq}, ${route.id}, ${channel}, coalesce(${status}, ${waiting}), ${input.cardKey ?? null}, ${route.quiet === 'muted'}, ${now})`;
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
        sql`(${id}, ${input.sourceId}, ${input.eventType}, ${hash}, ${input.text}, ${now}, ${JSON.stringify(input.filteredBy)})`,
    );
    const inserted = await db.all<{ id: string; seq: number }>(sql`
      insert into events (id, source_id, event_type, body_hash, body, received_at, filtered_by)
      values ${sql.join(values, sql`, `)}
      on conflict (source_id, body_hash) where deduped do nothing returning id, seq`);
    for (const row of inserted) seqOf.set(row.id, Number(row.seq));
  }
  const deliveryValues = rows.flatMap(({ input, id }) => {
    const seq = seqOf.get(id);
    if (seq === undefined) return [];
    return input.routes.map((route) => deliveryRow(seq, route, input, now));
  });
  for (const chunk of chunked(deliveryValues, ROWS_PER_STATEMENT)) {
    await db.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, status, card_key, muted, next_attempt_at)
      values ${sql.join(chunk, sql`, `)}`);
  }
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
    if (seqOf.has(id)) results.push({ ok: true, value: { id, duplicate: false } });
    else results.push({ ok: true, value: await acceptOne(db, input, now, dedupeWindowMs) });
  }
  return results;
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
      insert into deliveries (event_seq, route_id, channel_id, status, card_key, muted, next_attempt_at)
      values ${deliveryRow(inserted.seq, route, input, now)}`);
  }
  if (input.filteredBy.length > 0)
    await db.run(sql`update routes set events_filtered = events_filtered + 1 where id in ${input.filteredBy}`);
  return { id: inserted.id, duplicate: false };
}

/** A source's latest events with their deliveries, newest first: what `/dispatch source log` shows. */
export async function recentEvents(
  db: Database,
  sourceId: SourceId,
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
export async function latestEvents(db: Database, sourceId: SourceId, limit: number): Promise<EventRow[]> {
  return (await db.all(sql`select * from events where source_id = ${sourceId} order by seq desc limit ${limit}`)).map(toEvent);
}

/**
 * The latest event of a source matching an event pattern (`issue.created`, `issue.*` or `*`).
 * The resource of `resource.*` is matched literally: `_` and `%` are not wildcards here.
 */
export async function lastEventMatching(db: Database, sourceId: SourceId, pattern: string): Promise<EventRow | undefined> {
  const match =
    pattern === '*'
      ? sql``
      : pattern.endsWith('.*')
        ? sql`and substr(event_type, 1, ${pattern.length - 1}) = ${pattern.slice(0, -1)}`
        : sql`and event_type = ${pattern}`;
  const row = await db.get(sql`select * from events where source_id = ${sourceId} ${match} order by seq desc limit 1`);
  return row ? toEvent(row) : undefined;
}

/** Deletes events older than the retention with nothing left to deliver (their deliveries go with them); held ones wait for their digest. */
export function pruneFinished(db: Database, olderThan: number): Promise<number> {
  return db.run(sql`
    delete from events where received_at < ${olderThan}
    and not exists (select 1 from deliveries d where d.event_seq = events.seq and d.status in ('pending', 'paused', 'held'))`);
}
