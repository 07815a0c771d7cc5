import { parseRouteId, type RouteId } from '../ids.js';
import type { AlertAction, AlertActions } from '../sentry/alert-action.js';
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
 * The actions of an alert's rule that are a source's own: those naming one of its routes (`owns`),
 * from the first group that has any (see AlertActions), one per route. Sentry does not say which
 * integration an action belongs to, but route ids are never reused: another Dispatch source's action
 * never names one of this source's routes.
 */
export function ownAlertActions(actions: AlertActions, owns: (route: RouteId) => boolean): AlertAction[] {
  for (const group of actions) {
    const byRoute = new Map<RouteId, AlertAction>();
    for (const action of group) {
      const id = parseRouteId(action.route);
      if (id !== undefined && owns(id) && !byRoute.has(id)) byRoute.set(id, action);
    }
    if (byRoute.size > 0) return [...byRoute.values()];
  }
  return [];
}

/**
 * Which of a source's routes take an event, and which keep it out by their filters. Routing is
 * decided one of two ways:
 *
 * - an alert whose rule carries Dispatch's action (see src/sentry/alert-action.ts) goes to the
 *   routes of this source its rule's actions name (one, or several for an incident whose triggers
 *   name different routes when it resolves), and to them only: filters do not apply. When none is
 *   this source's (removed since), the source's first route takes the alert instead, which then
 *   says why (`alertActionOn`): an alert is never dropped;
 * - anything else goes through every route whose filter lets it.
 *
 * `routes` are the source's, first route first.
 */
export function selectRoutes<R extends { id: RouteId; filter: string }>(
  routes: readonly R[],
  eventType: string,
  facts: EventFacts,
  actions?: AlertActions,
): { through: R[]; filteredBy: RouteId[] } {
  if (actions && routes.length > 0) {
    const byId = new Map(routes.map((route) => [route.id, route]));
    const named = ownAlertActions(actions, (id) => byId.has(id)).map((action) => byId.get(parseRouteId(action.route)!)!);
    return { through: named.length > 0 ? named : [routes[0]!], filteredBy: [] };
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
 * What a delivery of an alert on `deliveredOn` stands for, read again when it is drawn, from the
 * stored body: the action naming that route. A delivery on a route no action names can only be the
 * fallback of a rule whose route is no longer the source's (`misrouted`); it carries the rule's note
 * and ping role only when the rule has one Dispatch action to take them from (with several, some
 * are another source's, and which one was this source's cannot be told). Not knowing the route (a
 * preview), the first action.
 */
export function alertActionOn(
  actions: AlertActions | undefined,
  deliveredOn: RouteId | undefined,
): { action?: AlertAction; misrouted: boolean } | undefined {
  if (!actions) return undefined;
  if (deliveredOn === undefined) return { action: actions[0]![0]!, misrouted: false };
  const [named] = ownAlertActions(actions, (id) => id === deliveredOn);
  if (named) return { action: named, misrouted: false };
  const candidates = new Set(actions[0]!.map((action) => action.route));
  return { ...(candidates.size === 1 ? { action: actions[0]![0]! } : {}), misrouted: true };
}

/** The line a fallback delivery shows. */
export const MISSING_ROUTE_LINE =
  "The alert rule names a Dispatch route that no longer exists: posted on the source's first route. Pick a route again in the rule's Dispatch action.";
