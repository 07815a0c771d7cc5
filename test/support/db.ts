import { sql } from 'drizzle-orm';
import { fromRow, type Database } from '../../src/db/database.js';
import { acceptEvents, type AcceptedEvent } from '../../src/db/events.js';
import { events, sources, type EventRow, type Source } from '../../src/db/schema.js';

/** Reading the database straight, for assertions. */

export async function allEvents(db: Database): Promise<EventRow[]> {
  return (await db.all(sql`select * from events order by seq`)).map((r) => fromRow(events, r));
}

export async function eventsOf(db: Database, sourceId: number): Promise<EventRow[]> {
  return (await db.all(sql`select * from events where source_id = ${sourceId} order by seq`)).map((r) => fromRow(events, r));
}

export async function sourceRow(db: Database, sourceId: number): Promise<Source> {
  return fromRow(sources, (await db.get(sql`select * from sources where id = ${sourceId}`))!);
}

/** Stores an event as the webhook route would, without the HTTP request. */
export async function storeEvent(
  db: Database,
  input: { sourceId: number; channelId: string; eventType: string; text: string },
  now = Date.now(),
): Promise<AcceptedEvent> {
  const [result] = await acceptEvents(db, [{ ...input, body: Buffer.from(input.text) }], now, 3_600_000);
  if (!result!.ok) throw result!.error;
  return result!.value;
}
