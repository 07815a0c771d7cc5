import { sql } from 'drizzle-orm';
import { patternsMatching } from '../sentry/event-type.js';
import { fromRow, type Database } from './database.js';
import { templates, type TemplateRow } from './schema.js';

const toTemplate = (row: Record<string, unknown>): TemplateRow => fromRow(templates, row);

export async function setTemplate(
  db: Database,
  input: { sourceId: number; eventPattern: string; body: string; updatedBy: string },
  now: number,
): Promise<void> {
  await db.run(sql`
    insert into templates (source_id, event_pattern, body, updated_by, updated_at)
    values (${input.sourceId}, ${input.eventPattern}, ${input.body}, ${input.updatedBy}, ${now})
    on conflict (source_id, event_pattern) do update set body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at`);
}

export async function clearTemplate(db: Database, sourceId: number, eventPattern: string): Promise<boolean> {
  return (await db.run(sql`delete from templates where source_id = ${sourceId} and event_pattern = ${eventPattern}`)) > 0;
}

export async function listTemplates(db: Database, sourceId: number): Promise<TemplateRow[]> {
  return (await db.all(sql`select * from templates where source_id = ${sourceId} order by event_pattern`)).map(toTemplate);
}

/** The most specific template of the source for this event type, if any. Runs for every delivery. */
export async function templateFor(db: Database, sourceId: number, eventType: string): Promise<TemplateRow | undefined> {
  const patterns = patternsMatching(eventType);
  const rows = (await db.all(sql`select * from templates where source_id = ${sourceId} and event_pattern in ${patterns}`)).map(toTemplate);
  return patterns.map((p) => rows.find((r) => r.eventPattern === p)).find((r) => r !== undefined);
}

export async function recordTemplateError(db: Database, sourceId: number, message: string, now: number): Promise<void> {
  await db.run(sql`update sources set last_template_error = ${message}, last_template_error_at = ${now} where id = ${sourceId}`);
}
