import { isOwnEvent } from '../own-events.js';

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

/** Every event type Sentry is known to send (its docs and source, 2026). */
export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set([
  ...['created', 'resolved', 'assigned', 'ignored', 'archived', 'unresolved', 'deleted'].map((a) => `issue.${a}`),
  'error.created',
  ...['created', 'updated', 'deleted'].map((a) => `comment.${a}`),
  'event_alert.triggered',
  ...['critical', 'warning', 'resolved', 'open'].map((a) => `metric_alert.${a}`),
  ...['created', 'deleted'].map((a) => `installation.${a}`),
  ...[
    'root_cause_started',
    'root_cause_completed',
    'solution_started',
    'solution_completed',
    'coding_started',
    'coding_completed',
    'pr_created',
  ].map((a) => `seer.${a}`),
  'activity_alert.triggered',
  ...['size_analysis_completed', 'build_distribution_completed'].map((a) => `preprod_artifact.${a}`),
]);

/** A type as a metrics label: the known ones by name, anything else as `other`, so a sender cannot grow the series. */
export function eventTypeLabel(type: string | undefined): string {
  if (type === undefined) return 'unknown';
  return KNOWN_EVENT_TYPES.has(type) ? type : 'other';
}

export interface EventType {
  resource: string;
  action: string;
  /** `resource.action`, e.g. `issue.created`. */
  type: string;
}

export type EventTypeResult = { ok: true; eventType: EventType } | { ok: false; reason: string };

/**
 * A name as Sentry might write it, in the grammar: lower case, anything but letters, digits and
 * `_` turned into `_`, at most 64 characters. Undefined when nothing is left.
 */
function nameOf(raw: string): string | undefined {
  const name = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .slice(0, 64);
  return NAME.test(name) ? name : undefined;
}

/** Why a webhook naming Dispatch's own resource is refused (src/own-events.ts). */
export const OWN_RESOURCE_REFUSED = "sentry-hook-resource 'dispatch' is reserved for Dispatch's own events";

/**
 * `Sentry-Hook-Resource` + the body's `action` → the event type used for routing and display.
 * Both are required: they say what the event is. An odd spelling (`Preprod-Artifact`) is read in
 * the grammar rather than refused, since Sentry never sends an event twice. A type that would be
 * one of Dispatch's own (`dispatch.*`, however the header spells it) is refused: Sentry sends none.
 */
export function eventTypeOf(resourceHeader: string | undefined, payload: unknown): EventTypeResult {
  if (!resourceHeader?.trim()) return { ok: false, reason: 'missing sentry-hook-resource header' };
  const resource = nameOf(resourceHeader);
  if (!resource) return { ok: false, reason: 'invalid sentry-hook-resource header' };
  // Decided on the type as it would be stored, by the same test that treats a stored event as Dispatch's own.
  if (isOwnEvent(`${resource}.`)) return { ok: false, reason: OWN_RESOURCE_REFUSED };
  const rawAction = (payload as { action?: unknown } | null)?.action;
  const action = typeof rawAction === 'string' ? nameOf(rawAction) : undefined;
  if (!action) return { ok: false, reason: 'body has no valid "action"' };
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
