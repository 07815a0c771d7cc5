import { parseRouteId, type RouteId } from '../ids.js';
import type { AlertAction } from '../sentry/alert-action.js';
import type { EventFacts } from '../sentry/facts.js';
import { deserializeFilter, matchesFilter, type RouteFilter } from './filter.js';

/** Filters are read on every webhook; their stored JSON is parsed once. */
const parsedFilters = new Map<string, RouteFilter>();
const MAX_PARSED = 1000;

function filterOf(json: string): RouteFilter {
  let filter = parsedFilters.get(json);
  if (!filter) {
    filter = deserializeFilter(json);
    if (parsedFilters.size >= MAX_PARSED) parsedFilters.delete(parsedFilters.keys().next().value!);
    parsedFilters.set(json, filter);
  }
  return filter;
}

/**
 * Which of a source's routes take an event, and which keep it out by their filters. Routing is
 * decided one of two ways:
 *
 * - an alert whose rule carries Dispatch's action (see src/sentry/alert-action.ts) goes to the route
 *   the rule named, and to it only: filters do not apply. A route that is not this source's (gone
 *   since, or another source's: ids are never reused) is unknown, and the source's first route takes
 *   the alert instead, which then says why (`namedRouteMissing`): an alert is never dropped;
 * - anything else goes through every route whose filter lets it.
 *
 * `routes` are the source's, first route first.
 */
export function selectRoutes<R extends { id: RouteId; filter: string }>(
  routes: readonly R[],
  eventType: string,
  facts: EventFacts,
  action?: AlertAction,
): { through: R[]; filteredBy: RouteId[] } {
  if (action && routes.length > 0) {
    const named = routes.find((route) => route.id === parseRouteId(action.route));
    return { through: [named ?? routes[0]!], filteredBy: [] };
  }
  const through: R[] = [];
  const filteredBy: RouteId[] = [];
  for (const route of routes) {
    if (matchesFilter(filterOf(route.filter), eventType, facts)) through.push(route);
    else filteredBy.push(route.id);
  }
  return { through, filteredBy };
}

/**
 * Whether a delivery of an alert went to the source's first route because the route its rule named
 * is not the source's any more. Read again when the alert is drawn, from the stored body: a delivery
 * on any other route than the named one can only be that fallback.
 */
export function namedRouteMissing(action: AlertAction | undefined, deliveredOn: RouteId | undefined): boolean {
  return action !== undefined && deliveredOn !== undefined && parseRouteId(action.route) !== deliveredOn;
}

/** The line a fallback delivery shows. */
export const MISSING_ROUTE_LINE =
  "The alert rule names a Dispatch route that no longer exists: posted on the source's first route. Pick a route again in the rule's Dispatch action.";
