/**
 * What needs eyes: an event after which the card may move down the channel (policy.ts `needsBump`
 * decides whether it does: only when it would not be seen where it is). Each fold asks here, so the
 * whole list is in one place. An event that adds no line (an echo, a read-back) never needs eyes
 * (state.ts).
 */

/** An issue unresolved again: a regression, or an archived issue escalating. */
export const unresolvedNeedsEyes = (action: string): boolean => action === 'unresolved';

/** An issue alert rule firing again about the same issue (the first firing is the card itself). */
export const alertNeedsEyes = (times: number): boolean => times > 1;

/** An activity alert reporting an escalation (Sentry's `escalating` activity types). */
export const activityNeedsEyes = (activityType: string): boolean => /escalat/i.test(activityType);

/**
 * A metric alert firing again: critical after it calmed down (to warning, or resolved), or anything
 * but resolved after it was resolved. A first critical or warning is the card itself.
 */
export function incidentNeedsEyes(before: string | undefined, action: string): boolean {
  return (action === 'critical' && before !== undefined && before !== 'critical') || (before === 'resolved' && action !== 'resolved');
}
