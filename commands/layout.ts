import { LAYOUTS, type Layout } from '../src/db/routes.js';
import { UserError } from '../src/user-error.js';

/** New routes get live cards unless asked otherwise. */
export const DEFAULT_LAYOUT: Layout = 'card';

/** The `layout` option as given (Discord offers only the choices, but an interaction can carry anything). */
export function layoutFrom(value: string | null | undefined, fallback: Layout): Layout {
  if (value === null || value === undefined || value === '') return fallback;
  if (!(LAYOUTS as readonly string[]).includes(value)) throw new UserError('The layout is `card` or `feed`.');
  return value as Layout;
}

/** A route's layout in words, with why its cards have no threads if so. */
export function describeLayout(route: { layout: Layout; threadProblem: string | null }): string {
  if (route.layout === 'feed') return 'feed (a message per event)';
  return route.threadProblem ? `live cards (no threads: ${route.threadProblem})` : 'live cards';
}
