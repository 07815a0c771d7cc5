import { sql, type SQL } from 'drizzle-orm';

/**
 * Events Dispatch stores itself and delivers like Sentry's: a change made from Discord
 * (`dispatch.triage`), a card read back from Sentry (`dispatch.sync`), a digest
 * (`dispatch.digest`), an issue a member posted as a card (`dispatch.found`, `/dispatch issue post:true`). They are never held for quiet hours, never counted as received, and left
 * out of digests and flood summaries; a digest's text is drawn as Dispatch wrote it. So only
 * Dispatch may make one: their types come from `ownEventType` alone, and the webhook refuses any
 * request the event-type grammar would read as one (src/sentry/event-type.ts).
 */

/** The resource of every own event; no Sentry resource is named so. */
const OWN_RESOURCE = 'dispatch';

export type OwnEventKind = 'triage' | 'sync' | 'digest' | 'found';

/** The one maker of an own event's type. */
export function ownEventType(kind: OwnEventKind): `${typeof OWN_RESOURCE}.${OwnEventKind}` {
  return `${OWN_RESOURCE}.${kind}`;
}

export function isOwnEvent(type: string): boolean {
  return type.startsWith(`${OWN_RESOURCE}.`);
}

/** The same test in SQL, on an event type column: `… and not ${isOwnEventSql(sql`e.event_type`)}`. */
export function isOwnEventSql(column: SQL): SQL {
  return sql`(${column} like ${sql.raw(`'${OWN_RESOURCE}.%'`)})`;
}
