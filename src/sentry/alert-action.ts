import { splitEventType } from './event-type.js';

/**
 * Dispatch's alert-rule action as Sentry hands it back: the settings a person chose in an alert
 * rule's "Send to Discord via Dispatch" action (the UI component of src/sentry/ui-schema.ts).
 * Where they come back, read from getsentry/sentry (docs/sentry-ui-components.md has the files):
 *
 * - issue alerts (`event_alert.triggered`): `data.issue_alert.settings`, the settings of the one
 *   action this webhook is for (Sentry sends one webhook per action);
 * - metric alerts (`metric_alert.*`): `data.metric_alert.alert_rule.triggers[].actions[].settings`,
 *   every action of every trigger (other apps', email, Slack) and no field naming which one this
 *   delivery is for, nor our installation. Dispatch's are those whose settings carry our field
 *   names; with two Dispatch sources in one Sentry organization, the other source's too: the route
 *   each names tells them apart (src/routing/select-routes.ts).
 *
 * Settings are `[{name, value, label?}]`; a value is a string, sometimes a number or null.
 */

/** Our field names: distinctive, so another integration's action in the same rule is never read as ours. */
export const ALERT_FIELDS = { route: 'dispatch_route', pingRole: 'dispatch_ping_role', note: 'dispatch_note' } as const;
/** The "no ping" choice of the Ping role select. */
export const NO_PING = 'none';

export interface AlertAction {
  /** The route the rule named, as sent (a route id, unchecked: it may be another source's, or gone). */
  route: string;
  /** A role id, unchecked; absent for "no ping". */
  pingRole?: string;
  /** Free text the rule's author wrote: untrusted. */
  note?: string;
}

type Setting = { name: string; value: string | undefined };

/** `[{name, value}]` as name → text; anything else in the list is skipped. */
function settingsOf(list: unknown): Setting[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.flatMap((item) => {
    if (item === null || typeof item !== 'object') return [];
    const { name, value } = item as { name?: unknown; value?: unknown };
    if (typeof name !== 'string') return [];
    const text = typeof value === 'string' ? value.trim() : typeof value === 'number' && Number.isFinite(value) ? String(value) : '';
    return [{ name, value: text === '' ? undefined : text }];
  });
}

/** Our action in a settings list, or undefined when the list is not ours (no route field). */
export function alertActionIn(list: unknown): AlertAction | undefined {
  const settings = settingsOf(list);
  const value = (name: string) => settings?.find((s) => s.name === name)?.value;
  const route = value(ALERT_FIELDS.route);
  if (route === undefined) return undefined;
  const pingRole = value(ALERT_FIELDS.pingRole);
  const note = value(ALERT_FIELDS.note);
  return { route, ...(pingRole && pingRole !== NO_PING ? { pingRole } : {}), ...(note ? { note } : {}) };
}

const objectAt = (node: unknown, key: string): unknown =>
  node !== null && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
const listAt = (node: unknown, key: string): unknown[] => {
  const value = objectAt(node, key);
  return Array.isArray(value) ? value : [];
};

/**
 * An alert's Dispatch actions, in groups that speak for it in turn (the first group with an action
 * of the source's wins): an issue alert's one action; a metric alert's actions of the trigger the
 * webhook is about (`critical`, `warning`), then those of every trigger (`resolved` names no
 * trigger: only those). Any of them may be another Dispatch source's.
 */
export type AlertActions = readonly (readonly AlertAction[])[];

/** A metric alert's Dispatch actions: of the trigger it is about, then of every trigger. */
function metricAlertActions(payload: unknown, action: string): AlertActions {
  const triggers = listAt(objectAt(objectAt(objectAt(payload, 'data'), 'metric_alert'), 'alert_rule'), 'triggers');
  const dispatchActions = (trigger: unknown) => listAt(trigger, 'actions').flatMap((a) => alertActionIn(objectAt(a, 'settings')) ?? []);
  const own = triggers.filter((t) => objectAt(t, 'label') === action).flatMap(dispatchActions);
  return [own, triggers.flatMap(dispatchActions)].filter((group) => group.length > 0);
}

/**
 * The Dispatch actions an alert webhook carries, if any. Only issue and metric alerts carry them.
 * A resolved incident goes where the rule says, and pings nobody: its role is for an alert firing.
 */
export function alertActionsOf(eventType: string, payload: unknown): AlertActions | undefined {
  const { resource, action } = splitEventType(eventType);
  let groups: AlertActions;
  if (resource === 'event_alert') {
    const one = alertActionIn(objectAt(objectAt(objectAt(payload, 'data'), 'issue_alert'), 'settings'));
    groups = one ? [[one]] : [];
  } else if (resource === 'metric_alert') {
    groups = metricAlertActions(payload, action);
    if (action === 'resolved') groups = groups.map((group) => group.map(({ pingRole: _calm, ...rest }) => rest));
  } else return undefined;
  return groups.length > 0 ? groups : undefined;
}
