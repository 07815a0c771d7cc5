import { cardKeyOf } from '../cards/state.js';
import type { IncomingEvent } from '../db/events.js';
import type { WebhookRoute, WebhookTarget } from '../db/sources.js';
import { alertActionsOf } from '../sentry/alert-action.js';
import { eventFacts } from '../sentry/facts.js';
import { selectRoutes } from './select-routes.js';

/** A webhook whose signature and timestamp were checked: its type (from Sentry's header), bytes and payload. */
export interface VerifiedEvent {
  eventType: string;
  /** The exact bytes the signature covered. */
  body: Buffer;
  /** The same bytes, decoded. */
  text: string;
  payload: Record<string, unknown>;
}

export interface RoutedEvent {
  /** The routes that take it. */
  through: WebhookRoute[];
  /** The routes whose filters keep it out. */
  filteredBy: IncomingEvent['filteredBy'];
  /** What is stored. */
  input: IncomingEvent;
}

/**
 * Which of a source's routes (as read) take an event, and the event as it is then stored (whether
 * a route's quiet hours hold it is decided when it is written, from the route as it is then). The
 * one decision the webhook route and the spool's drain share: an event spooled while the database
 * was away is routed when it is drained as if it had just arrived.
 */
export function routeEvent(target: Pick<WebhookTarget, 'id' | 'routes'>, event: VerifiedEvent): RoutedEvent {
  const facts = eventFacts(event.eventType, event.payload);
  // An alert whose rule names routes in Dispatch's actions goes there; anything else by filters.
  const actions = alertActionsOf(event.eventType, event.payload);
  const { through, filteredBy } = selectRoutes(target.routes, event.eventType, facts, actions);
  const input: IncomingEvent = {
    sourceId: target.id,
    eventType: event.eventType,
    level: facts.level,
    body: event.body,
    text: event.text,
    routes: through,
    filteredBy,
    cardKey: cardKeyOf(facts),
  };
  return { through, filteredBy, input };
}
