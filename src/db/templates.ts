import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { UserError } from '../user-error.js';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { sources, templates, type TemplateRow } from './schema.js';

const NAME = '[a-z][a-z0-9_]{0,63}';
const PATTERN = new RegExp(`^(\\*|${NAME}\\.\\*|${NAME}\\.${NAME})$`);

/** `issue.created`, `issue.*` or `*` (the default). */
export function normalizePattern(raw: string | null | undefined): string {
  const pattern = (raw ?? '*').trim().toLowerCase() || '*';
  if (!PATTERN.test(pattern)) {
    throw new UserError('An event is an event type like `issue.created`, a resource like `issue.*`, or `*` for every event.');
  }
  return pattern;
}

/** From most to least specific: the template that wins is the first one that exists. */
export function patternsFor(eventType: string): string[] {
  const resource = eventType.split('.')[0]!;
  return [eventType, `${resource}.*`, '*'];
}

export function setTemplate(
  db: Db,
  input: { sourceId: number; eventPattern: string; body: string; updatedBy: string },
  now = Date.now(),
): void {
  db.insert(templates)
    .values({ ...input, updatedAt: now })
    .onConflictDoUpdate({
      target: [templates.sourceId, templates.eventPattern],
      set: { body: input.body, updatedBy: input.updatedBy, updatedAt: now },
    })
    .run();
}

export function clearTemplate(db: Db, sourceId: number, eventPattern: string): boolean {
  return (
    db
      .delete(templates)
      .where(and(eq(templates.sourceId, sourceId), eq(templates.eventPattern, eventPattern)))
      .run().changes > 0
  );
}

export function listTemplates(db: Db, sourceId: number): TemplateRow[] {
  return db.select().from(templates).where(eq(templates.sourceId, sourceId)).orderBy(asc(templates.eventPattern)).all();
}

/** The most specific template of the source for this event type, if any. Runs for every delivery. */
export function templateFor(db: Db, sourceId: number, eventType: string): TemplateRow | undefined {
  const patterns = patternsFor(eventType);
  const rows = prepared(db, 'templatesFor', () =>
    db
      .select()
      .from(templates)
      .where(
        and(
          eq(templates.sourceId, sql.placeholder('sourceId')),
          inArray(templates.eventPattern, [sql.placeholder('p0'), sql.placeholder('p1'), sql.placeholder('p2')]),
        ),
      )
      .prepare(),
  ).all({ sourceId, p0: patterns[0], p1: patterns[1], p2: patterns[2] });
  return patterns.map((p) => rows.find((r) => r.eventPattern === p)).find((r) => r !== undefined);
}

export function recordTemplateError(db: Db, sourceId: number, message: string, now = Date.now()): void {
  db.update(sources).set({ lastTemplateError: message, lastTemplateErrorAt: now }).where(eq(sources.id, sourceId)).run();
}
