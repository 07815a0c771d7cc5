import { z } from 'zod';
import { asCardKey, type CardKey, type RouteId } from '../ids.js';
import { alertActionOf } from '../sentry/alert-action.js';
import { namedRouteMissing } from '../routing/select-routes.js';
import { humanize } from '../embed/text.js';
import type { EventFacts } from '../sentry/facts.js';
import { splitEventType } from '../sentry/event-type.js';
import { IssueSchema, issueUrl, type Issue } from '../sentry/formatters/issue.js';
import { MetricAlertPayload } from '../sentry/formatters/metric-alert.js';
import { seerStage } from '../sentry/formatters/seer.js';
import { eventFacts } from '../sentry/facts.js';
import { ECHO_WINDOW_MS, isStatusAction, TRIAGE_ACTIONS, TRIAGE_EVENT_TYPE } from '../triage/actions.js';
import { eventTitle, exceptionOf, SentryEventSchema } from '../sentry/formatters/sentry-event.js';
import { loose, looseArray, optIdish, optString, parseLoose } from '../sentry/loose-schema.js';

/**
 * What a card shows: the current state of one Sentry issue (or metric alert incident), built up
 * from every event about it. Text here is as the payload wrote it; it is escaped when shown.
 */
export interface CardState {
  key: string;
  kind: 'issue' | 'incident';
  title?: string;
  url?: string;
  shortId?: string;
  project?: string;
  culprit?: string;
  level?: string;
  status?: string;
  substatus?: string;
  resolution?: string;
  assignee?: string;
  priority?: string;
  count?: number;
  userCount?: number;
  firstSeen?: string;
  lastSeen?: string;
  /** The last alert rule that fired, and how often one has; its Dispatch action's note, and whether the route it named was gone. */
  alert?: { rule: string; times: number; at: number } & AlertShown;
  seer?: { stage: number; of: number; label: string; links: string[] };
  comment?: { author: string; text: string; at: number; deleted?: boolean };
  /** Metric alert incidents: critical, warning, resolved or open. */
  incident?: { status: string; rule?: string; description?: string; startedAt?: string } & AlertShown;
  /** The Sentry organization, from the payloads' URLs (triage calls need it). */
  org?: string;
  /** A change made from Discord, until Sentry's webhook for it arrives (which then adds nothing). */
  echo?: { status?: string; assignee?: string; at: number };
  lastUpdate: { text: string; at: number };
  /** The latest lines of its history, oldest first (shown on the card when it has no thread). */
  history: { text: string; at: number }[];
}

/** What an alert routed by its rule's Dispatch action shows (src/render/alert-action-fields.ts). */
export interface AlertShown {
  note?: string;
  misrouted?: boolean;
}

/** The note and the missing-route line of an alert, as delivered on `routeId`. */
function alertShown(type: string, payload: unknown, routeId: RouteId | undefined): AlertShown {
  const action = alertActionOf(type, payload);
  if (!action) return {};
  return { ...(action.note ? { note: action.note } : {}), ...(namedRouteMissing(action, routeId) ? { misrouted: true } : {}) };
}

export interface CardChange {
  state: CardState;
  /** The line this event adds to the card's history. */
  line: string;
  /** The event needs eyes (a regression, an escalation, an alert firing again): the card may move down. */
  attention: boolean;
  /** The event carries text worth reading in full in the thread (a comment, a Seer result, an alert firing again). */
  detailed: boolean;
  /** Sentry's webhook for a change already shown (made from Discord): it adds no line. */
  silent: boolean;
}

const HISTORY_KEPT = 10;

/** The card an event belongs to on a card route: its Sentry issue, or its metric alert incident. */
export function cardKeyOf(facts: Pick<EventFacts, 'issueId' | 'incidentId'>): CardKey | undefined {
  if (facts.issueId) return issueCardKey(facts.issueId);
  if (facts.incidentId) return asCardKey(`incident:${facts.incidentId}`);
  return undefined;
}

/** The card of a Sentry issue. */
export const issueCardKey = (issueId: string): CardKey => asCardKey(`issue:${issueId}`);

export function isResolved(state: CardState): boolean {
  return state.kind === 'incident' ? state.incident?.status === 'resolved' : state.status === 'resolved';
}

const IssuePayload = z.looseObject({
  data: loose({ issue: IssueSchema, resolution_type: optString, assignee: loose({ type: optString, name: optString, id: optIdish }) }),
});
const ErrorPayload = z.looseObject({
  data: loose({ error: SentryEventSchema, event: SentryEventSchema, triggered_rule: optString, issue_alert: loose({ title: optString }) }),
});
const CommentPayload = z.looseObject({ data: loose({ comment: optString }), actor: loose({ name: optString }) });
const ActivityPayload = z.looseObject({
  data: loose({ issue: IssueSchema, activity: loose({ type: optString }), alert: loose({ title: optString }) }),
});
const SeerPayload = z.looseObject({
  data: loose({ pull_requests: looseArray(z.looseObject({ pull_request: loose({ pr_url: optString }) })) }),
});

/** Only what the event says replaces what the card knew: a field the payload lacks keeps its value. */
function merged<T extends object>(base: T, update: Partial<T>): T {
  const out = { ...base };
  for (const [key, value] of Object.entries(update))
    if (value !== undefined && value !== null && value !== '') (out as Record<string, unknown>)[key] = value;
  return out;
}

function fromIssue(issue: Issue): Partial<CardState> {
  return {
    title: issue.title ?? issue.metadata?.title ?? ([issue.metadata?.type, issue.metadata?.value].filter(Boolean).join(': ') || undefined),
    url: issueUrl(issue),
    shortId: issue.shortId,
    project: issue.project?.slug ?? issue.project?.name,
    culprit: issue.culprit,
    level: issue.level,
    status: issue.status,
    substatus: issue.substatus,
    priority: issue.priority,
    count: issue.count,
    userCount: issue.userCount,
    firstSeen: issue.firstSeen,
    lastSeen: issue.lastSeen,
    assignee: issue.assignedTo?.name
      ? issue.assignedTo.type === 'team'
        ? `team ${issue.assignedTo.name}`
        : issue.assignedTo.name
      : undefined,
  };
}

type Step = {
  update: Partial<CardState>;
  /** What the event says is now empty (Sentry sends `null`: unassigned, no substatus). */
  clear?: (keyof CardState)[];
  line: string;
  attention?: boolean;
  detailed?: boolean;
  /** The status or assignee this event leaves the issue with, to recognize Sentry's echo of a change made from Discord. */
  effect?: { status?: string; assignee?: string };
};

/** An issue payload is the whole issue: a field it sends as null is empty now, not unknown. */
const NULLABLE: Record<string, keyof CardState> = { substatus: 'substatus', assignedTo: 'assignee', priority: 'priority' };

function clearedIn(rawIssue: unknown): (keyof CardState)[] {
  if (rawIssue === null || typeof rawIssue !== 'object') return [];
  return Object.entries(NULLABLE).flatMap(([key, field]) => ((rawIssue as Record<string, unknown>)[key] === null ? [field] : []));
}

const rawIssueOf = (payload: unknown): unknown => (payload as { data?: { issue?: unknown } } | null)?.data?.issue;

function issueStep(action: string, payload: unknown): Step {
  const step = issueChange(action, payload);
  return { ...step, clear: [...clearedIn(rawIssueOf(payload)), ...(step.clear ?? [])] };
}

function issueChange(action: string, payload: unknown): Step {
  const { data } = parseLoose(IssuePayload, payload);
  const update = fromIssue(data?.issue ?? {});
  switch (action) {
    case 'created':
      return { update, line: 'New issue' };
    case 'resolved': {
      const resolution = humanize(data?.resolution_type);
      return {
        update: { ...update, status: 'resolved', resolution },
        line: `Resolved${resolution ? ` (${resolution.toLowerCase()})` : ''}`,
        effect: { status: 'resolved' },
      };
    }
    case 'assigned': {
      // `data.assignee` names who it was given to; older payloads only have the issue's assignedTo.
      const named = data?.assignee?.name ? (data.assignee.type === 'team' ? `team ${data.assignee.name}` : data.assignee.name) : undefined;
      const who = named ?? update.assignee;
      // An assignment says who, not where the issue stands: its snapshot's status may be older than the card's.
      const { status: _status, substatus: _substatus, ...rest } = update;
      return { update: { ...rest, assignee: who }, line: who ? `Assigned to ${who}` : 'Assigned', effect: { assignee: who } };
    }
    case 'ignored':
    case 'archived':
      return { update: { ...update, status: update.status ?? 'ignored' }, line: 'Archived', effect: { status: 'ignored' } };
    case 'unresolved':
      return {
        update: { ...update, status: 'unresolved' },
        clear: ['resolution'],
        line: `Unresolved again${update.substatus ? ` (${update.substatus})` : ''}`,
        attention: true,
        effect: { status: 'unresolved' },
      };
    case 'deleted':
      return { update, line: 'Deleted in Sentry' };
    default:
      return { update, line: humanize(action) ?? action };
  }
}

function errorStep(prev: CardState | undefined, payload: unknown): Step {
  const error = parseLoose(ErrorPayload, payload).data?.error ?? {};
  const exception = exceptionOf(error);
  const title = exception.type ? [exception.type, exception.value].filter(Boolean).join(': ') : eventTitle(error);
  return {
    update: {
      title: prev?.title ?? title,
      url: prev?.url ?? error.web_url,
      level: error.level,
      lastSeen: error.datetime,
      count: prev?.count !== undefined ? prev.count + 1 : undefined,
    },
    line: `New event${title ? `: ${title}` : ''}`,
  };
}

function alertStep(prev: CardState | undefined, payload: unknown, at: number, shown: AlertShown): Step {
  const { data } = parseLoose(ErrorPayload, payload);
  const event = data?.event ?? {};
  const rule = data?.triggered_rule ?? data?.issue_alert?.title ?? 'an alert rule';
  const times = (prev?.alert?.times ?? 0) + 1;
  return {
    update: {
      title: prev?.title ?? eventTitle(event),
      url: prev?.url ?? event.web_url,
      level: event.level,
      alert: { rule, times, at, ...shown },
    },
    line: times > 1 ? `Alert "${rule}" fired again (${times} times)` : `Alert "${rule}" fired`,
    attention: times > 1,
    detailed: times > 1,
  };
}

function activityStep(prev: CardState | undefined, payload: unknown, at: number): Step {
  const { data } = parseLoose(ActivityPayload, payload);
  const activity = data?.activity?.type ?? 'activity';
  const rule = data?.alert?.title;
  const escalating = /escalat/i.test(activity);
  return {
    update: { ...fromIssue(data?.issue ?? {}), ...(rule ? { alert: { rule, times: (prev?.alert?.times ?? 0) + 1, at } } : {}) },
    line: `${humanize(activity.replace(/^seer_/, 'Seer '))}${rule ? ` (alert "${rule}")` : ''}`,
    attention: escalating,
  };
}

function commentStep(action: string, payload: unknown, at: number): Step {
  const { data, actor } = parseLoose(CommentPayload, payload);
  const author = actor?.name ?? 'Someone';
  const text = data?.comment ?? '';
  if (action === 'deleted') return { update: { comment: { author, text, at, deleted: true } }, line: `${author} deleted a comment` };
  const excerpt = text.replace(/\s+/g, ' ').slice(0, 80);
  return {
    update: { comment: { author, text, at } },
    line: `${author} ${action === 'updated' ? 'edited a comment' : 'commented'}${excerpt ? `: ${excerpt}${text.length > 80 ? '…' : ''}` : ''}`,
    detailed: text.trim() !== '',
  };
}

function seerStep(prev: CardState | undefined, action: string, payload: unknown): Step {
  const { stage, of, label } = seerStage(action);
  const links = (parseLoose(SeerPayload, payload).data?.pull_requests ?? []).flatMap((pr) =>
    pr.pull_request?.pr_url ? [pr.pull_request.pr_url] : [],
  );
  return {
    update: { seer: { stage, of, label, links: links.length > 0 ? links : (prev?.seer?.links ?? []) } },
    line: `Seer: ${label}${stage > 0 ? ` (${stage}/${of})` : ''}`,
    detailed: /_completed$|^pr_created$/.test(action),
  };
}

const INCIDENT_LEVELS: Record<string, string> = { critical: 'error', warning: 'warning' };

function incidentStep(prev: CardState | undefined, action: string, payload: unknown, shown: AlertShown): Step {
  const { data } = parseLoose(MetricAlertPayload, payload);
  const incident = data?.metric_alert;
  const rule = incident?.alert_rule?.name ?? incident?.title;
  const label = humanize(action) ?? action;
  const before = prev?.incident?.status;
  // An alert firing again: critical after it calmed down, or anything but resolved after it was resolved.
  const again =
    (action === 'critical' && before !== undefined && before !== 'critical') || (before === 'resolved' && action !== 'resolved');
  return {
    update: {
      title: data?.description_title ?? `${label}: ${rule ?? 'metric alert'}`,
      url: data?.web_url,
      project: incident?.projects?.[0],
      level: INCIDENT_LEVELS[action],
      incident: {
        status: action,
        rule,
        description: data?.description_text?.replace(/\\n/g, '\n'),
        startedAt: incident?.date_started ?? prev?.incident?.startedAt,
        ...shown,
      },
    },
    line: `${label}${rule ? `: ${rule}` : ''}`,
    attention: again,
  };
}

function step(prev: CardState | undefined, type: string, payload: unknown, at: number, routeId: RouteId | undefined): Step {
  const { resource, action } = splitEventType(type);
  switch (resource) {
    case 'issue':
      return issueStep(action, payload);
    case 'error':
      return errorStep(prev, payload);
    case 'event_alert':
      return alertStep(prev, payload, at, alertShown(type, payload, routeId));
    case 'activity_alert':
      return activityStep(prev, payload, at);
    case 'comment':
      return commentStep(action, payload, at);
    case 'seer':
      return seerStep(prev, action, payload);
    case 'metric_alert':
      return incidentStep(prev, action, payload, alertShown(type, payload, routeId));
    case 'dispatch':
      return triageStep(payload);
    default:
      return { update: {}, line: type };
  }
}

const TriageEvent = z.looseObject({
  data: loose({
    triage: loose({ kind: optString, by: optString, assignee: optString }),
    issue: IssueSchema,
  }),
});

/** A change made from Discord with the buttons: Sentry's answer, and who did it. */
function triageStep(payload: unknown): Step {
  const { data } = parseLoose(TriageEvent, payload);
  const kind = data?.triage?.kind ?? '';
  const by = data?.triage?.by ?? 'someone';
  const update = fromIssue(data?.issue ?? {});
  if (kind === 'assign-to') {
    const who = data?.triage?.assignee ?? update.assignee;
    const { status: _status, substatus: _substatus, ...rest } = update;
    return {
      update: { ...rest, assignee: who },
      clear: who ? [] : ['assignee'],
      line: who ? `✅ Assigned to ${who} by ${by} from Discord` : `✅ Unassigned by ${by} from Discord`,
      effect: { assignee: who },
    };
  }
  if (!isStatusAction(kind)) return { update: {}, line: `✅ Changed by ${by} from Discord` };
  const action = TRIAGE_ACTIONS[kind];
  return {
    update: { ...update, status: update.status === 'resolvedInNextRelease' ? 'resolved' : (update.status ?? action.status) },
    // A resolved issue has no substatus; an unresolved one no resolution (unless Sentry's answer says otherwise).
    clear: action.status === 'resolved' ? ['substatus'] : ['resolution'],
    line: `✅ ${action.done} by ${by} from Discord`,
    effect: { status: action.status },
  };
}

/** Is this Sentry's webhook for the change made from Discord that the card already shows? */
function isEcho(echo: CardState['echo'], effect: Step['effect'], at: number): boolean {
  if (!echo || !effect || at - echo.at > ECHO_WINDOW_MS) return false;
  return (
    (effect.status !== undefined && effect.status === echo.status) || (effect.assignee !== undefined && effect.assignee === echo.assignee)
  );
}

/**
 * The card after one more event about it. Pure: the same card and event always give the same
 * result, which is what makes a card edit safe to send again after a crash.
 */
export function applyEvent(
  prev: CardState | undefined,
  event: { type: string; payload: unknown; key: string; at: number; routeId?: RouteId },
): CardChange {
  const {
    update,
    clear = [],
    line,
    attention = false,
    detailed = false,
    effect,
  } = step(prev, event.type, event.payload, event.at, event.routeId);
  const fromDiscord = event.type === TRIAGE_EVENT_TYPE;
  const silent = !fromDiscord && isEcho(prev?.echo, effect, event.at);
  const org = eventFacts(event.type, event.payload).organization;
  const base: CardState = prev ?? {
    key: event.key,
    kind: event.key.startsWith('incident:') ? 'incident' : 'issue',
    lastUpdate: { text: line, at: event.at },
    history: [],
  };
  const state = merged(base, { ...update, ...(org ? { org } : {}) });
  for (const key of clear) if (update[key] === undefined) delete state[key];
  if (fromDiscord) state.echo = { ...effect, at: event.at };
  else if (silent) delete state.echo; // the echo came: later webhooks count again
  if (!silent) {
    state.lastUpdate = { text: line, at: event.at };
    state.history = [...base.history, { text: line, at: event.at }].slice(-HISTORY_KEPT);
  }
  return { state, line, attention: attention && !silent, detailed: detailed && !silent, silent };
}
