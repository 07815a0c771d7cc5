import type { RouteId } from '../ids.js';
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

/** Which of a source's routes take an event, and which keep it out by their filters. */
export function selectRoutes<R extends { id: RouteId; filter: string }>(
  routes: readonly R[],
  eventType: string,
  facts: EventFacts,
): { through: R[]; filteredBy: RouteId[] } {
  const through: R[] = [];
  const filteredBy: RouteId[] = [];
  for (const route of routes) {
    if (matchesFilter(filterOf(route.filter), eventType, facts)) through.push(route);
    else filteredBy.push(route.id);
  }
  return { through, filteredBy };
}
