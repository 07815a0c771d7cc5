import { z } from 'zod';
import { asCardKey, type CardKey, type RouteId } from '../ids.js';
import { alertActionsOf } from '../sentry/alert-action.js';
import { alertActionOn } from '../routing/select-routes.js';
import { humanize } from '../embed/text.js';
import type { EventFacts } from '../sentry/facts.js';
import { splitEventType } from '../sentry/event-type.js';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { incidentMeasure, MetricAlertPayload } from '../sentry/formatters/metric-alert.js';
import { seerStage, seerSummary, type SeerPullRequest } from '../sentry/formatters/seer.js';
import { eventFacts } from '../sentry/facts.js';
import { isStatusAction, TRIAGE_ACTIONS, TRIAGE_EVENT_TYPE } from '../triage/actions.js';
import { eventTitle, exceptionOf, SentryEventSchema, tagOf, type SentryEventData } from '../sentry/formatters/sentry-event.js';
import { loose, optBool, optIdish, optString, parseLoose } from '../sentry/loose-schema.js';
import { actorOf, consumeEcho, expecting, type Actor, type ExpectedEcho, type IssueEffect } from './echo.js';
import { assigneeActor, assigneeName, fromIssue } from './issue-fields.js';
import { drift, SYNC_EVENT_TYPE, syncLine } from './sync.js';
import { statusWords } from '../sentry/issue-status.js';

/**
 * What a card shows: the current state of one Sentry issue (or metric alert incident), built up
 * from every event about it. Text here is as the payload wrote it; it is escaped when shown.
 * Stored as JSON with the card: a field added later is simply missing from older cards.
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
  /** How it was resolved, in words ("in the next release"); none when resolved by hand. */
  resolution?: string;
  /** Who it is assigned to, as shown (`Alice`, `team Backend`)… */
  assignee?: string;
  /** …and as Sentry names them, to compare with Sentry by identity. */
  assigneeId?: Actor;
  priority?: string;
  count?: number;
  userCount?: number;
  firstSeen?: string;
  lastSeen?: string;
  /** The latest error event about the issue: what it raised, where and in which environment and release. */
  latestEvent?: { title?: string; culprit?: string; environment?: string; release?: string; platform?: string; at: number };
  /** The last alert rule that fired, and how often one has; its Dispatch action's note, and whether the route it named was gone. */
  alert?: { rule: string; times: number; at: number } & AlertShown;
  /** The last activity an activity alert reported (a Seer result, an escalation), with its summary. */
  activity?: { label: string; summary?: string; at: number };
  /**
   * Seer's run: the stage it reached, and the latest of what each completed stage produced. `links`
   * is how cards from before `prs` kept the pull requests' addresses.
   */
  seer?: {
    stage: number;
    of: number;
    label: string;
    links: string[];
    prs?: SeerPullRequest[];
    rootCause?: string;
    repo?: string;
    solution?: string;
    fix?: string;
  };
  comment?: { author: string; text: string; at: number; deleted?: boolean };
  /** Metric alert incidents: critical, warning, resolved or open; what the rule measures and against what. */
  incident?: {
    status: string;
    rule?: string;
    description?: string;
    startedAt?: string;
    metric?: string;
    window?: number;
    threshold?: number;
    projects?: string[];
  } & AlertShown;
  /** The Sentry organization, from the payloads' URLs (triage calls need it). */
  org?: string;
  /** Changes made from Discord whose webhook from Sentry has not come yet (it then adds nothing). */
  echoes?: ExpectedEcho[];
  /**
   * As of when the card knows where the issue stands (status, substatus, assignee: what a read-back
   * compares): when the last event that said so was received (a webhook, a change made from Discord
   * once Sentry answered), or when the read of a read-back began.
   */
  standingAsOf?: number;
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
  const shown = alertActionOn(alertActionsOf(type, payload), routeId);
  if (!shown) return {};
  return { ...(shown.action?.note ? { note: shown.action.note } : {}), ...(shown.misrouted ? { misrouted: true } : {}) };
}

export interface CardChange {
  state: CardState;
  /** The line this event adds to the card's history. */
  line: string;
  /** The event needs eyes (a regression, an escalation, an alert firing again): the card may move down. */
  attention: boolean;
  /** The event carries text worth reading in full in the thread (a comment, a Seer result, an alert firing again). */
  detailed: boolean;
  /** Adds no line: Sentry's webhook for a change already shown (made from Discord), or a read-back that found nothing new. */
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

const Assignee = loose({ type: optString, name: optString, id: optIdish });
const IssuePayload = z.looseObject({ data: loose({ issue: IssueSchema, resolution_type: optString, assignee: Assignee }) });
const ErrorPayload = z.looseObject({
  data: loose({ error: SentryEventSchema, event: SentryEventSchema, triggered_rule: optString, issue_alert: loose({ title: optString }) }),
});
const CommentPayload = z.looseObject({ data: loose({ comment: optString, project_slug: optString }), actor: loose({ name: optString }) });
const ActivityPayload = z.looseObject({
  data: loose({
    issue: IssueSchema,
    activity: loose({ type: optString, details: loose({ summary: optString }) }),
    alert: loose({ title: optString }),
  }),
});

/** Only what the event says replaces what the card knew: a field the payload lacks keeps its value. */
function merged<T extends object>(base: T, update: Partial<T>): T {
  const out = { ...base };
  for (const [key, value] of Object.entries(update))
    if (value !== undefined && value !== null && value !== '') (out as Record<string, unknown>)[key] = value;
  return out;
}

type Step = {
  update: Partial<CardState>;
  /** What the event says is now empty (Sentry sends `null`: unassigned, no substatus). */
  clear?: (keyof CardState)[];
  line: string;
  attention?: boolean;
  detailed?: boolean;
  /** What this event from Sentry says it did to the issue, to recognize the echo of a change made from Discord. */
  effect?: IssueEffect;
  /** A change made from Discord: the webhook Sentry will send for it. */
  expects?: ExpectedEcho;
  /** Adds no line whatever it is (a read-back that found the card right). */
  quiet?: boolean;
  /** What it says of the issue is as of this time rather than the event's (a read-back: when its read began). */
  asOf?: number;
};

/** An issue payload is the whole issue: a field it sends as null is empty now, not unknown. */
const NULLABLE: Record<string, (keyof CardState)[]> = {
  substatus: ['substatus'],
  assignedTo: ['assignee', 'assigneeId'],
  priority: ['priority'],
};

function clearedIn(rawIssue: unknown): (keyof CardState)[] {
  if (rawIssue === null || typeof rawIssue !== 'object') return [];
  return Object.entries(NULLABLE).flatMap(([key, fields]) => ((rawIssue as Record<string, unknown>)[key] === null ? fields : []));
}

const rawIssueOf = (payload: unknown): unknown => (payload as { data?: { issue?: unknown } } | null)?.data?.issue;

function issueStep(prev: CardState | undefined, action: string, payload: unknown): Step {
  const step = issueChange(prev, action, payload);
  return { ...step, clear: [...clearedIn(rawIssueOf(payload)), ...(step.clear ?? [])] };
}

/**
 * An assignment says who, not where the issue stands: its snapshot's status may be older than what
 * the card shows. A card it starts takes the snapshot's, the best it knows.
 */
function withoutStatus(prev: CardState | undefined, update: Partial<CardState>): Partial<CardState> {
  if (prev?.status === undefined) return update;
  const { status: _status, substatus: _substatus, resolution: _resolution, ...rest } = update;
  return rest;
}

function issueChange(prev: CardState | undefined, action: string, payload: unknown): Step {
  const { data } = parseLoose(IssuePayload, payload);
  const issue = data?.issue ?? {};
  const update = fromIssue(issue, action === 'resolved' ? data?.resolution_type : undefined);
  switch (action) {
    case 'created':
      return { update, line: 'New issue' };
    case 'resolved': {
      const words = update.resolution;
      return {
        update: { ...update, status: 'resolved' },
        clear: ['substatus', ...(words ? [] : (['resolution'] as const))],
        line: `Resolved${words ? ` ${words}` : ''}`,
        effect: { status: 'resolved' },
      };
    }
    case 'assigned': {
      // `data.assignee` names who it was given to (its id a number); older payloads only have the issue's assignedTo.
      const who = assigneeName(data?.assignee) ?? update.assignee;
      const id = assigneeActor(data?.assignee) ?? update.assigneeId;
      return {
        update: { ...withoutStatus(prev, update), assignee: who, assigneeId: id },
        line: who ? `Assigned to ${who}` : 'Assigned',
        effect: id ? { assignee: id } : undefined,
      };
    }
    case 'ignored':
    case 'archived':
      return {
        update: { ...update, status: update.status ?? 'ignored' },
        clear: ['resolution'],
        line: 'Archived',
        effect: { status: 'ignored', substatus: update.substatus },
      };
    case 'unresolved':
      return {
        update: { ...update, status: 'unresolved' },
        clear: ['resolution'],
        line: `Unresolved again${update.substatus ? ` (${update.substatus})` : ''}`,
        attention: true,
        effect: { status: 'unresolved', substatus: update.substatus },
      };
    case 'deleted':
      return { update, line: 'Deleted in Sentry' };
    default:
      return { update, line: humanize(action) ?? action };
  }
}

/** An error event's own facts: what it raised, where, in which environment and release. */
function latestEventOf(event: SentryEventData, at: number): NonNullable<CardState['latestEvent']> {
  const exception = exceptionOf(event);
  const title = exception.type ? [exception.type, exception.value].filter(Boolean).join(': ') : eventTitle(event);
  return {
    ...(title ? { title } : {}),
    ...(event.culprit ? { culprit: event.culprit } : {}),
    ...((event.environment ?? tagOf(event, 'environment')) ? { environment: event.environment ?? tagOf(event, 'environment') } : {}),
    ...((event.release ?? tagOf(event, 'release')) ? { release: event.release ?? tagOf(event, 'release') } : {}),
    ...(event.platform ? { platform: event.platform } : {}),
    at,
  };
}

function errorStep(prev: CardState | undefined, payload: unknown, at: number): Step {
  const error = parseLoose(ErrorPayload, payload).data?.error ?? {};
  const latest = latestEventOf(error, at);
  return {
    update: {
      title: prev?.title ?? latest.title,
      url: prev?.url ?? error.web_url,
      culprit: prev?.culprit ?? error.culprit,
      level: error.level,
      lastSeen: error.datetime,
      count: prev?.count !== undefined ? prev.count + 1 : undefined,
      latestEvent: latest,
    },
    line: `New event${latest.title ? `: ${latest.title}` : ''}`,
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
      culprit: prev?.culprit ?? event.culprit,
      level: event.level,
      alert: { rule, times, at, ...shown },
      latestEvent: latestEventOf(event, at),
    },
    line: times > 1 ? `Alert "${rule}" fired again (${times} times)` : `Alert "${rule}" fired`,
    attention: times > 1,
    detailed: times > 1,
  };
}

function activityStep(prev: CardState | undefined, payload: unknown, at: number): Step {
  const { data } = parseLoose(ActivityPayload, payload);
  const type = data?.activity?.type ?? 'activity';
  const label = humanize(type.replace(/^seer_/, 'Seer ')) ?? type;
  const rule = data?.alert?.title;
  const summary = data?.activity?.details?.summary;
  return {
    update: {
      ...fromIssue(data?.issue ?? {}),
      ...(rule ? { alert: { rule, times: (prev?.alert?.times ?? 0) + 1, at } } : {}),
      activity: { label, ...(summary ? { summary } : {}), at },
    },
    line: `${label}${rule ? ` (alert "${rule}")` : ''}`,
    attention: /escalat/i.test(type),
    detailed: summary !== undefined && summary.trim() !== '',
  };
}

function commentStep(action: string, payload: unknown, at: number): Step {
  const { data, actor } = parseLoose(CommentPayload, payload);
  const author = actor?.name ?? 'Someone';
  const text = data?.comment ?? '';
  const project = data?.project_slug;
  if (action === 'deleted') {
    return { update: { project, comment: { author, text, at, deleted: true } }, line: `${author} deleted a comment` };
  }
  const excerpt = text.replace(/\s+/g, ' ').slice(0, 80);
  return {
    update: { project, comment: { author, text, at } },
    line: `${author} ${action === 'updated' ? 'edited a comment' : 'commented'}${excerpt ? `: ${excerpt}${text.length > 80 ? '…' : ''}` : ''}`,
    detailed: text.trim() !== '',
  };
}

function seerStep(prev: CardState | undefined, action: string, payload: unknown): Step {
  const { stage, of, label } = seerStage(action);
  const produced = seerSummary(action, payload);
  const before = prev?.seer;
  return {
    // The latest of each kind: a new root cause replaces the old one, a solution stays until the next.
    update: { seer: { ...before, ...produced, stage, of, label, links: before?.links ?? [] } },
    line: `Seer: ${label}${stage > 0 ? ` (${stage}/${of})` : ''}`,
    detailed: /_completed$|^pr_created$/.test(action),
  };
}

const INCIDENT_LEVELS: Record<string, string> = { critical: 'error', warning: 'warning' };

function withoutShown(incident: CardState['incident']): CardState['incident'] {
  if (!incident) return undefined;
  const { note: _note, misrouted: _misrouted, ...rest } = incident;
  return rest;
}

function incidentStep(prev: CardState | undefined, action: string, payload: unknown, shown: AlertShown): Step {
  const { data } = parseLoose(MetricAlertPayload, payload);
  const incident = data?.metric_alert;
  const rule = incident?.alert_rule?.name ?? incident?.title;
  const label = humanize(action) ?? action;
  const before = prev?.incident;
  const measure = incidentMeasure(data, action);
  // An alert firing again: critical after it calmed down, or anything but resolved after it was resolved.
  const again =
    (action === 'critical' && before?.status !== undefined && before.status !== 'critical') ||
    (before?.status === 'resolved' && action !== 'resolved');
  return {
    update: {
      title: data?.description_title ?? `${label}: ${rule ?? 'metric alert'}`,
      url: data?.web_url,
      project: incident?.projects?.[0],
      level: INCIDENT_LEVELS[action],
      // The note and the missing-route line are the latest alert's own: not kept from an earlier one.
      incident: {
        ...merged(withoutShown(before) ?? { status: action }, {
          status: action,
          rule,
          description: data?.description_text?.replace(/\\n/g, '\n'),
          startedAt: incident?.date_started,
          metric: measure.metric,
          window: measure.window,
          // The threshold of the trigger that fired; resolving has none of its own.
          threshold: measure.threshold,
          projects: measure.projects.length > 0 ? measure.projects : undefined,
        }),
        ...shown,
      },
    },
    line: `${label}${rule ? `: ${rule}` : ''}`,
    attention: again,
  };
}

const TriageEvent = z.looseObject({
  data: loose({
    triage: loose({ kind: optString, by: optString, assignee: optString, actor: optString, unconfirmed: optBool }),
    issue: IssueSchema,
  }),
});

/**
 * A change made from Discord with the buttons: Sentry's answer, and who did it. When Sentry did not
 * say whether it made the change, the card shows what was asked and changes nothing else, but still
 * expects Sentry's webhook for it (within the echo window): if Sentry made it, that webhook is the
 * member's own change, not news (no line, no move down, no ping); if not, no such webhook comes,
 * and the read-back after it finds the card right.
 */
function triageStep(prev: CardState | undefined, payload: unknown, at: number): Step {
  const { data } = parseLoose(TriageEvent, payload);
  const kind = data?.triage?.kind ?? '';
  const by = data?.triage?.by ?? 'someone';
  const step = answeredTriageStep(prev, kind, by, data, at);
  if (!data?.triage?.unconfirmed) return step;
  const who = data.triage.assignee;
  const asked =
    kind === 'assign-to' ? (who ? `Assign to ${who}` : 'Unassign') : isStatusAction(kind) ? TRIAGE_ACTIONS[kind].label : 'A change';
  return { update: {}, line: `⏳ ${asked} asked by ${by} from Discord; Sentry has not confirmed it`, expects: step.expects };
}

function answeredTriageStep(
  prev: CardState | undefined,
  kind: string,
  by: string,
  data: z.output<typeof TriageEvent>['data'],
  at: number,
): Step {
  const update = fromIssue(data?.issue ?? {});
  if (kind === 'assign-to') {
    const actor = actorOf(data?.triage?.actor);
    const who = data?.triage?.assignee ?? update.assignee;
    return {
      update: { ...withoutStatus(prev, update), assignee: who, assigneeId: actor ?? update.assigneeId },
      clear: who ? [] : ['assignee', 'assigneeId'],
      line: who ? `✅ Assigned to ${who} by ${by} from Discord` : `✅ Unassigned by ${by} from Discord`,
      // Sentry sends no webhook when an issue is unassigned: nothing to wait for.
      expects: actor ? { assignee: actor, at } : undefined,
    };
  }
  if (!isStatusAction(kind)) return { update: {}, line: `✅ Changed by ${by} from Discord` };
  const action = TRIAGE_ACTIONS[kind];
  const substatus = 'substatus' in action ? action.substatus : undefined;
  return {
    update: {
      ...update,
      status: update.status === 'resolvedInNextRelease' ? 'resolved' : (update.status ?? action.status),
      substatus: update.substatus ?? substatus,
      resolution: update.resolution ?? (kind === 'resolve-next' ? 'in the next release' : undefined),
    },
    // A resolved issue has no substatus; an unresolved one no resolution (unless Sentry's answer says otherwise).
    clear: action.status === 'resolved' ? ['substatus', ...(kind === 'resolve' ? (['resolution'] as const) : [])] : ['resolution'],
    line: `✅ ${action.done} by ${by} from Discord`,
    expects: { status: action.status, ...(substatus ? { substatus } : {}), at },
  };
}

const SyncEvent = z.looseObject({ data: loose({ issue: z.unknown(), readAt: z.number().optional().catch(undefined) }) });

/** Sentry's API answer for the issue: what differs from the card is set right, with one line saying what. */
function syncStep(prev: CardState | undefined, payload: unknown): Step {
  const { issue: raw, readAt } = parseLoose(SyncEvent, payload).data ?? {};
  // The answer is Sentry's issue as of some moment after its read began, and it is applied after
  // everything stored while Sentry was answering. If the card has since learned where the issue
  // stands from an event received after the read began, the answer may be the older of the two,
  // and which parts of it are cannot be told: it is dropped whole, with no line. Whatever is still
  // wrong is set right by the next read-back, which begins after that event.
  if (prev && readAt !== undefined && prev.standingAsOf !== undefined && prev.standingAsOf >= readAt) {
    return { update: {}, line: syncLine([]), quiet: true };
  }
  const issue = parseLoose(IssueSchema, raw);
  const update = fromIssue(issue);
  // A card that does not exist yet (it was removed since) starts from Sentry's answer.
  const words = prev ? drift(prev, raw) : [statusWords(update.status, update.substatus, update.resolution) ?? 'read'];
  return {
    update,
    clear: [...clearedIn(raw), ...(update.status === 'resolved' ? [] : (['resolution'] as const))],
    line: syncLine(words),
    // Already right (a webhook came in between): the card takes Sentry's counts, with no line.
    quiet: prev !== undefined && words.length === 0,
    ...(readAt !== undefined ? { asOf: readAt } : {}),
  };
}

function step(prev: CardState | undefined, type: string, payload: unknown, at: number, routeId: RouteId | undefined): Step {
  if (type === TRIAGE_EVENT_TYPE) return triageStep(prev, payload, at);
  if (type === SYNC_EVENT_TYPE) return syncStep(prev, payload);
  const { resource, action } = splitEventType(type);
  switch (resource) {
    case 'issue':
      return issueStep(prev, action, payload);
    case 'error':
      return errorStep(prev, payload, at);
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
    default:
      return { update: {}, line: type };
  }
}

/** Where the issue stands, as a read-back compares it (see sync.ts `drift`). */
const STANDING: (keyof CardState)[] = ['status', 'substatus', 'assignee', 'assigneeId'];

/** Cards stored before `echoes` kept one change made from Discord, by status only. */
function echoesOf(state: CardState | undefined): ExpectedEcho[] | undefined {
  const legacy = (state as { echo?: { status?: string; at: number } } | undefined)?.echo;
  return state?.echoes ?? (legacy?.status ? [{ status: legacy.status, at: legacy.at }] : undefined);
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
    expects,
    quiet = false,
    asOf = event.at,
  } = step(prev, event.type, event.payload, event.at, event.routeId);
  // Sentry's webhook for a change made from Discord: it uses up the expectation and adds no line.
  const left = expects ? undefined : consumeEcho(echoesOf(prev), effect, event.at);
  const silent = quiet || left !== undefined;
  const org = eventFacts(event.type, event.payload).organization;
  const base: CardState = prev ?? {
    key: event.key,
    kind: event.key.startsWith('incident:') ? 'incident' : 'issue',
    lastUpdate: { text: line, at: event.at },
    history: [],
  };
  const state = merged(base, { ...update, ...(org ? { org } : {}) });
  for (const key of clear) if (update[key] === undefined) delete state[key];
  delete (state as { echo?: unknown }).echo;
  if (STANDING.some((key) => update[key] !== undefined || clear.includes(key)))
    state.standingAsOf = Math.max(prev?.standingAsOf ?? asOf, asOf);
  const echoes = left ?? expecting(echoesOf(prev), expects, event.at);
  if (echoes.length > 0) state.echoes = echoes;
  else delete state.echoes;
  if (!silent) {
    state.lastUpdate = { text: line, at: event.at };
    state.history = [...base.history, { text: line, at: event.at }].slice(-HISTORY_KEPT);
  }
  return { state, line, attention: attention && !silent, detailed: detailed && !silent, silent };
}
