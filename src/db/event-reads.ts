import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { toEvent } from './events.js';
import { deliveries, type DeliveryRow, type EventRow } from './schema.js';
import type { SourceId } from '../ids.js';

/** What commands read of a source's stored events (`source log`, dry runs, previews): bounded in rows and in bytes of bodies. */

/** An event's columns but its body (read only where it is drawn). */
const WITHOUT_BODY = sql`seq, id, source_id, event_type, body_hash, deduped, duplicates, last_duplicate_at, '' as body, received_at, arrived_at, filtered_by`;

/** A source's latest events with their deliveries, newest first, without their bodies: what `/dispatch source log` shows. */
export async function recentEvents(
  db: Database,
  sourceId: SourceId,
  limit: number,
): Promise<{ event: EventRow; deliveries: DeliveryRow[] }[]> {
  const recent = (await db.all(sql`select ${WITHOUT_BODY} from events where source_id = ${sourceId} order by seq desc limit ${limit}`)).map(
    toEvent,
  );
  if (recent.length === 0) return [];
  const rows = (await db.all(sql`select * from deliveries where event_seq in ${recent.map((e) => e.seq)} order by seq`)).map((r) =>
    fromRow(deliveries, r),
  );
  return recent.map((event) => ({ event, deliveries: rows.filter((d) => d.eventSeq === event.seq) }));
}

/** Bodies one command reads at most (a dry run over recent events): bounded in bytes, not rows. */
const COMMAND_BODY_BUDGET = 8 * 1024 * 1024;

/**
 * A source's latest events (at most `limit`), newest first, as many as fit `COMMAND_BODY_BUDGET`
 * bytes of bodies (at least one): for the dry run of its routes and the environment hint. Sizes
 * come from the rows' headers, so choosing reads no body.
 */
export async function latestEvents(db: Database, sourceId: SourceId, limit: number): Promise<EventRow[]> {
  const sized = await db.all<{ seq: number; bytes: number }>(
    sql`select seq, octet_length(body) as bytes from events where source_id = ${sourceId} order by seq desc limit ${limit}`,
  );
  let total = 0;
  const chosen: number[] = [];
  for (const row of sized) {
    total += Number(row.bytes);
    if (chosen.length > 0 && total > COMMAND_BODY_BUDGET) break;
    chosen.push(Number(row.seq));
  }
  if (chosen.length === 0) return [];
  return (await db.all(sql`select * from events where seq in ${chosen} order by seq desc`)).map(toEvent);
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
