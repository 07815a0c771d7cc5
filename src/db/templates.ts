import { sql } from 'drizzle-orm';
import { isOwnEvent } from '../own-events.js';
import { patternsMatching } from '../sentry/event-type.js';
import { fromRow, type Database } from './database.js';
import { templates, type TemplateRow } from './schema.js';
import type { RouteId, SourceId } from '../ids.js';

const toTemplate = (row: Record<string, unknown>): TemplateRow => fromRow(templates, row);

/** Whose template: the source's (every route without its own for that pattern) or one route's. */
export interface TemplateOwner {
  sourceId: SourceId;
  routeId: RouteId | null;
}

const ofOwner = (owner: TemplateOwner) =>
  owner.routeId === null ? sql`source_id = ${owner.sourceId} and route_id is null` : sql`route_id = ${owner.routeId}`;

export async function setTemplate(
  db: Database,
  input: TemplateOwner & { eventPattern: string; body: string; updatedBy: string },
  now: number,
): Promise<void> {
  const target =
    input.routeId === null
      ? sql`(source_id, event_pattern) where route_id is null`
      : sql`(route_id, event_pattern) where route_id is not null`;
  await db.run(sql`
    insert into templates (source_id, route_id, event_pattern, body, updated_by, updated_at)
    values (${input.sourceId}, ${input.routeId}, ${input.eventPattern}, ${input.body}, ${input.updatedBy}, ${now})
    on conflict ${target} do update set body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at`);
}

export async function clearTemplate(db: Database, owner: TemplateOwner, eventPattern: string): Promise<boolean> {
  return (await db.run(sql`delete from templates where ${ofOwner(owner)} and event_pattern = ${eventPattern}`)) > 0;
}

/** A source's templates and its routes' own, the source's first. */
export async function listTemplates(db: Database, sourceId: SourceId): Promise<TemplateRow[]> {
  return (
    await db.all(sql`select * from templates where source_id = ${sourceId} order by route_id is not null, route_id, event_pattern`)
  ).map(toTemplate);
}

export async function templateOf(db: Database, owner: TemplateOwner, eventPattern: string): Promise<TemplateRow | undefined> {
  const row = await db.get(sql`select * from templates where ${ofOwner(owner)} and event_pattern = ${eventPattern}`);
  return row ? toTemplate(row) : undefined;
}

/**
 * The template for an event on a route: the most specific pattern that has one wins, and for that
 * pattern the route's own template before the source's. Runs for every delivery.
 */
/** Without a route (`null`), the source's own templates only. */
export async function templateFor(
  db: Database,
  sourceId: SourceId,
  routeId: RouteId | null,
  eventType: string,
): Promise<TemplateRow | undefined> {
  // Dispatch's own events (a change made from Discord, a read-back, a digest) are not Sentry's: a
  // `*` template written for Sentry's payloads would draw them wrong (and replace a card with it).
  if (isOwnEvent(eventType)) return undefined;
  const patterns = patternsMatching(eventType);
  const rows = (
    await db.all(sql`
      select * from templates where source_id = ${sourceId} and (route_id is null or route_id = ${routeId}) and event_pattern in ${patterns}`)
  ).map(toTemplate);
  for (const pattern of patterns) {
    const found =
      rows.find((r) => r.eventPattern === pattern && r.routeId === routeId) ??
      rows.find((r) => r.eventPattern === pattern && r.routeId === null);
    if (found) return found;
  }
  return undefined;
}

export async function recordTemplateError(db: Database, sourceId: SourceId, message: string, now: number): Promise<void> {
  await db.run(sql`update sources set last_template_error = ${message}, last_template_error_at = ${now} where id = ${sourceId}`);
}
