/**
 * The event-name grammar, in one place: event types (`issue.created`), the patterns that templates
 * and route filters use for them (`issue.created`, `issue.*`, `*`), and which patterns match a type.
 */

/** Resource and action names are short snake_case words in every Sentry payload. */
const NAME_SOURCE = '[a-z][a-z0-9_]{0,63}';
const NAME = new RegExp(`^${NAME_SOURCE}$`);
const PATTERN = new RegExp(`^(\\*|${NAME_SOURCE}\\.\\*|${NAME_SOURCE}\\.${NAME_SOURCE})$`);
/** The longest pattern: two names and a dot. */
export const EVENT_PATTERN_MAX_LENGTH = 129;

export interface EventType {
  resource: string;
  action: string;
  /** `resource.action`, e.g. `issue.created`. */
  type: string;
}

export type EventTypeResult = { ok: true; eventType: EventType } | { ok: false; reason: string };

/** `Sentry-Hook-Resource` + the body's `action` → the event type used for routing and display. */
export function eventTypeOf(resourceHeader: string | undefined, payload: unknown): EventTypeResult {
  const resource = resourceHeader?.trim().toLowerCase();
  if (!resource) return { ok: false, reason: 'missing sentry-hook-resource header' };
  if (!NAME.test(resource)) return { ok: false, reason: 'invalid sentry-hook-resource header' };
  const action = (payload as { action?: unknown } | null)?.action;
  if (typeof action !== 'string' || !NAME.test(action)) return { ok: false, reason: 'body has no valid "action"' };
  return { ok: true, eventType: { resource, action, type: `${resource}.${action}` } };
}

export function splitEventType(type: string): { resource: string; action: string } {
  const dot = type.indexOf('.');
  return dot === -1 ? { resource: type, action: '' } : { resource: type.slice(0, dot), action: type.slice(dot + 1) };
}

/** A pattern as typed (case and spaces ignored; empty means `*`), or undefined when it is not one. */
export function parseEventPattern(raw: string | null | undefined): string | undefined {
  const pattern = (raw ?? '*').trim().toLowerCase() || '*';
  return PATTERN.test(pattern) ? pattern : undefined;
}

/** The patterns that match an event type, from most to least specific. */
export function patternsMatching(eventType: string): [string, string, string] {
  return [eventType, `${splitEventType(eventType).resource}.*`, '*'];
}
