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
 *   delivery is for, nor our installation. Ours is the one whose settings carry our field names.
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
 * A metric alert's action of ours: in the trigger the webhook is about (`critical`, `warning`)
 * when it has one, else the first of ours in any trigger (`resolved` names no trigger).
 */
function metricAlertAction(payload: unknown, action: string): AlertAction | undefined {
  const triggers = listAt(objectAt(objectAt(objectAt(payload, 'data'), 'metric_alert'), 'alert_rule'), 'triggers');
  const ours = (trigger: unknown) =>
    listAt(trigger, 'actions')
      .map((a) => alertActionIn(objectAt(a, 'settings')))
      .find((found) => found !== undefined);
  const own = triggers.filter((t) => objectAt(t, 'label') === action);
  for (const trigger of [...own, ...triggers]) {
    const found = ours(trigger);
    if (found) return found;
  }
  return undefined;
}

/**
 * The action of ours an alert webhook carries, if any. Only issue and metric alerts carry one. A
 * resolved incident goes where the rule says, and pings nobody: its role is for an alert firing.
 */
export function alertActionOf(eventType: string, payload: unknown): AlertAction | undefined {
  const { resource, action } = splitEventType(eventType);
  if (resource === 'event_alert') return alertActionIn(objectAt(objectAt(objectAt(payload, 'data'), 'issue_alert'), 'settings'));
  if (resource !== 'metric_alert') return undefined;
  const found = metricAlertAction(payload, action);
  if (action !== 'resolved' || !found) return found;
  const { pingRole: _calm, ...rest } = found;
  return rest;
}
