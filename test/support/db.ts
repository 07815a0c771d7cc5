import { sql } from 'drizzle-orm';
import { fromRow, type Database } from '../../src/db/database.js';
import { acceptEvents, type AcceptedEvent } from '../../src/db/events.js';
import { deliveries, events, sources, type DeliveryRow, type EventRow, type Source } from '../../src/db/schema.js';
import { type ChannelId, type RouteId, type SourceId } from '../../src/ids.js';

/** Reading the database straight, for assertions. */

export async function allEvents(db: Database): Promise<EventRow[]> {
  return (await db.all(sql`select * from events order by seq`)).map((r) => fromRow(events, r));
}

export async function eventsOf(db: Database, sourceId: number): Promise<EventRow[]> {
  return (await db.all(sql`select * from events where source_id = ${sourceId} order by seq`)).map((r) => fromRow(events, r));
}

/** A delivery with its event's id and body: what became of one event on one route. */
export type DeliveryWithEvent = DeliveryRow & { eventId: string; body: string };

export async function deliveriesOf(db: Database, sourceId: number): Promise<DeliveryWithEvent[]> {
  const rows = await db.all(sql`
    select d.*, e.id as event_id, e.body from deliveries d join events e on e.seq = d.event_seq where e.source_id = ${sourceId} order by d.seq`);
  return rows.map((r) => ({ ...fromRow(deliveries, r), eventId: String(r.event_id), body: String(r.body) }));
}

export async function allDeliveries(db: Database): Promise<DeliveryRow[]> {
  return (await db.all(sql`select * from deliveries order by seq`)).map((r) => fromRow(deliveries, r));
}

export async function sourceRow(db: Database, sourceId: number): Promise<Source> {
  return fromRow(sources, (await db.get(sql`select * from sources where id = ${sourceId}`))!);
}

/** Stores an event as the webhook route would (to the source's routes), without the HTTP request. */
export async function storeEvent(
  db: Database,
  input: { sourceId: SourceId; eventType: string; text: string; route: { id: RouteId; channelId: ChannelId } },
  now = Date.now(),
): Promise<AcceptedEvent> {
  const incoming = {
    sourceId: input.sourceId,
    eventType: input.eventType,
    text: input.text,
    body: Buffer.from(input.text),
    routes: [input.route],
    filteredBy: [],
  };
  const [result] = await acceptEvents(db, [incoming], now, 3_600_000);
  if (!result!.ok) throw result!.error;
  return result!.value;
}

/**
 * A database fault for a test, in either dialect: writes to `table` (`insert`, or `update of <column>`)
 * for which `when` holds (it may use `new.<column>`) fail with `message`, until `remove()`.
 */
export async function refuseWrites(
  db: Database,
  fault: { name: string; table: string; on: string; when: string; message: string },
): Promise<{ remove(): Promise<void> }> {
  const { name, table, on, when, message } = fault;
  if (db.dialect === 'sqlite') {
    await db.run(sql.raw(`create trigger ${name} before ${on} on ${table} when ${when} begin select raise(abort, '${message}'); end`));
    return { remove: async () => void (await db.run(sql.raw(`drop trigger ${name}`))) };
  }
  await db.run(sql.raw(`create function ${name}() returns trigger language plpgsql as $$ begin raise exception '${message}'; end $$`));
  await db.run(sql.raw(`create trigger ${name} before ${on} on ${table} for each row when (${when}) execute function ${name}()`));
  return {
    remove: async () => {
      await db.run(sql.raw(`drop trigger ${name} on ${table}`));
      await db.run(sql.raw(`drop function ${name}()`));
    },
  };
}

/** What became of one event on each route: the signal that the worker has handled it (not a sleep). */
export async function deliveriesOfEvent(db: Database, eventId: string): Promise<DeliveryRow[]> {
  const rows = await db.all(sql`select d.* from deliveries d join events e on e.seq = d.event_seq where e.id = ${eventId} order by d.seq`);
  return rows.map((r) => fromRow(deliveries, r));
}
