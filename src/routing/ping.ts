import type { Route } from '../db/schema.js';
import type { EventFacts, Level } from '../sentry/facts.js';
import { atOrAbove } from './filter.js';
import type { RoleId } from '../ids.js';

/**
 * The role a route pings for an event: its `ping` role, for events at or above its `ping-level`
 * (events without a level never ping). The role id comes from the route, never from a payload.
 */
export function pingFor(
  route: Pick<Route, 'pingRoleId' | 'pingLevel'>,
  facts: EventFacts,
): { content: string; roleIds: RoleId[] } | undefined {
  if (!route.pingRoleId || !atOrAbove(facts.level, route.pingLevel as Level)) return undefined;
  return { content: mentions([route.pingRoleId]), roleIds: [route.pingRoleId] };
}

/** Role mentions as a message's content: what `allowed_mentions` must then allow, exactly these roles. */
export function mentions(roleIds: readonly RoleId[]): string {
  return roleIds.map((id) => `<@&${id}>`).join(' ');
}
