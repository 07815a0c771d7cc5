import { loadFixture } from '../support/sentry.js';

/**
 * Webhook bodies for the simulation, from the repo's real fixtures, each marked with tokens that
 * say whose it is: `G<server>S<source>E<event>` for the event and `G<server>S<source>I<issue>` for
 * its issue (or incident). Every text a message could show carries them, so the invariants can
 * tell whose text ended up where.
 */

const issueCreated = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const comment = loadFixture('comment.created.json') as { data: Record<string, unknown> };
const error = loadFixture('error.created.json') as { data: { error: Record<string, unknown> } };
const build = loadFixture('preprod_artifact.build_distribution_completed.json') as { data: Record<string, unknown> & { appInfo: object } };
const alert = loadFixture('event_alert.triggered.json') as { data: { event: Record<string, unknown> } & Record<string, unknown> };
const metric = loadFixture('example-app-mocks/metric_alert.critical.json') as {
  data: { metric_alert: Record<string, unknown> & { alert_rule: Record<string, unknown> } };
};

export type EventKind =
  | 'issue.created'
  | 'issue.resolved'
  | 'issue.unresolved'
  | 'issue.assigned'
  | 'comment.created'
  | 'error.created'
  | 'event_alert.triggered'
  | 'metric_alert.critical'
  | 'preprod_artifact.build_distribution_completed';
export const EVENT_KINDS: readonly EventKind[] = [
  'issue.created',
  'issue.resolved',
  'issue.unresolved',
  'issue.assigned',
  'comment.created',
  'error.created',
  'event_alert.triggered',
  'metric_alert.critical',
  // No issue: posted as in a feed even on a card route.
  'preprod_artifact.build_distribution_completed',
];
export const LEVELS = ['warning', 'error', 'fatal'] as const;

export interface Marks {
  /** The event's own token, on every embed that shows it. */
  event: string;
  /** Its issue's (or incident's) token, on its card's title. */
  issue: string;
  /** Sentry's id for the issue (or incident), unique in the simulation. */
  issueId: string;
  level: (typeof LEVELS)[number];
}

/**
 * The settings of Dispatch's action in an alert rule (src/sentry/alert-action.ts), naming a route
 * by its id, with a note that carries the event's token.
 */
export function ruleSettings(routeId: number, marks: Marks): { name: string; value: string }[] {
  return [
    { name: 'dispatch_route', value: String(routeId) },
    { name: 'dispatch_ping_role', value: 'none' },
    { name: 'dispatch_note', value: `note of ${marks.event}` },
  ];
}

/** An alert's payload with its rule's Dispatch action (`settings`), where Sentry puts it for each kind of alert. */
function withRule(kind: EventKind, payload: Record<string, any>, settings: unknown): Record<string, unknown> {
  if (kind === 'event_alert.triggered')
    return { ...payload, data: { ...payload.data, issue_alert: { id: '1', title: 'sim rule', sentry_app_id: 1, settings } } };
  const rule = payload.data.metric_alert.alert_rule;
  const triggers = [
    {
      label: 'critical',
      actions: [
        { type: 'email', settings: null },
        { type: 'sentry_app', sentry_app_id: 1, settings },
      ],
    },
  ];
  return { ...payload, data: { ...payload.data, metric_alert: { ...payload.data.metric_alert, alert_rule: { ...rule, triggers } } } };
}

/** The webhook body of an event of `kind` about one issue, marked. Its resource is the kind's first part. */
export function payloadOf(kind: EventKind, marks: Marks, settings?: unknown): Record<string, unknown> {
  const payload = eventPayload(kind, marks);
  return settings === undefined ? payload : withRule(kind, payload, settings);
}

function eventPayload(kind: EventKind, marks: Marks): Record<string, any> {
  const { event, issue, issueId, level } = marks;
  switch (kind) {
    case 'issue.created':
    case 'issue.resolved':
    case 'issue.unresolved':
    case 'issue.assigned': {
      const action = kind.split('.')[1]!;
      return {
        ...issueCreated,
        action,
        data: {
          issue: {
            ...issueCreated.data.issue,
            id: issueId,
            shortId: issue,
            title: `${issue} ${event}`,
            culprit: `culprit of ${event}`,
            level,
            status: action === 'resolved' ? 'resolved' : 'unresolved',
            ...(action === 'unresolved' ? { substatus: 'regressed' } : {}),
            ...(action === 'assigned' ? { assignedTo: { type: 'user', id: '1', name: `someone ${event}` } } : {}),
          },
          ...(action === 'assigned' ? { assignee: { type: 'user', id: 1, name: `someone ${event}` } } : {}),
          ...(action === 'resolved' ? { resolution_type: 'now' } : {}),
        },
      };
    }
    case 'comment.created':
      return { ...comment, data: { ...comment.data, issue_id: Number(issueId), comment: `${event} says ${issue} is back` } };
    case 'error.created':
      return {
        ...error,
        data: {
          error: {
            ...error.data.error,
            issue_id: issueId,
            event_id: event.toLowerCase(),
            title: `SimError: ${event} in ${issue}`,
            message: `${event} in ${issue}`,
            exception: { values: [{ type: 'SimError', value: `${event} in ${issue}` }] },
            level,
          },
        },
      };
    case 'event_alert.triggered':
      return {
        ...alert,
        data: {
          ...alert.data,
          event: {
            ...alert.data.event,
            issue_id: issueId,
            title: `SimError: ${event} in ${issue}`,
            message: `${event} in ${issue}`,
            exception: { values: [{ type: 'SimError', value: `${event} in ${issue}` }] },
            level,
          },
          triggered_rule: `rule of ${issue}`,
        },
      };
    case 'preprod_artifact.build_distribution_completed':
      return {
        ...build,
        data: { ...build.data, buildId: event, appInfo: { ...build.data.appInfo, name: `${event} app`, version: issue } },
      };
    case 'metric_alert.critical':
      return {
        ...metric,
        data: {
          ...metric.data,
          description_title: `${issue} ${event}`,
          description_text: `${event} crossed the threshold`,
          metric_alert: {
            ...metric.data.metric_alert,
            id: issueId,
            title: `${issue} ${event}`,
            alert_rule: { ...metric.data.metric_alert.alert_rule, name: issue },
          },
        },
      };
  }
}

/** A template for `issue.*` that keeps the tokens (the title) and says it drew the embed. */
export const TEMPLATE = JSON.stringify({ embed: { title: '{{ payload.data.issue.title }} (templated)', description: 'by template' } });

/** Route filters the simulation picks from: everything, and a few that let some kinds through and not others. */
export const FILTERS: readonly string[] = [
  '{}',
  JSON.stringify({ events: ['issue.*'] }),
  JSON.stringify({ events: ['!comment.*'] }),
  JSON.stringify({ minLevel: 'error' }),
  JSON.stringify({ events: ['metric_alert.*', 'issue.created', 'error.*'] }),
];
