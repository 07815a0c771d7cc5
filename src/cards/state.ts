import type { RouteId } from '../ids.js';
import { alertActionsOf } from '../sentry/alert-action.js';
import { splitEventType } from '../sentry/event-type.js';
import { eventFacts } from '../sentry/facts.js';
import { alertActionOn } from '../routing/select-routes.js';
import { TRIAGE_EVENT_TYPE } from '../triage/actions.js';
import type { AlertShown, CardChange, CardState } from './card-state.js';
import { merged, type CardStep } from './card-step.js';
import { consumeEcho, expecting, type ExpectedEcho } from './echo.js';
import { foldActivity } from './fold-activity.js';
import { foldComment } from './fold-comment.js';
import { foldError, foldIssueAlert } from './fold-error.js';
import { foldIncident } from './fold-incident.js';
import { foldIssue } from './fold-issue.js';
import { foldSeer } from './fold-seer.js';
import { foldSync } from './fold-sync.js';
import { FOUND_EVENT_TYPE, foldFound } from './fold-found.js';
import { foldTriage } from './fold-triage.js';
import { saysWhereItStands } from './standing.js';
import { SYNC_EVENT_TYPE } from './sync.js';

// The card state's front door: what a card is (card-state.ts) and how an event changes it (below).
export { cardKeyOf, issueCardKey, isResolved, type CardChange, type CardState } from './card-state.js';

/** How many lines of its history a card keeps (its thread keeps them all). */
const HISTORY_KEPT = 10;

/** The note and the missing-route line of an alert, as delivered on `routeId`. */
function alertShown(type: string, payload: unknown, routeId: RouteId | undefined): AlertShown {
  const shown = alertActionOn(alertActionsOf(type, payload), routeId);
  if (!shown) return {};
  return { ...(shown.action?.note ? { note: shown.action.note } : {}), ...(shown.misrouted ? { misrouted: true } : {}) };
}

/** What the event says to the card: each kind of event has its fold. */
function foldFor(prev: CardState | undefined, type: string, payload: unknown, at: number, routeId: RouteId | undefined): CardStep {
  if (type === TRIAGE_EVENT_TYPE) return foldTriage(prev, payload, at);
  if (type === SYNC_EVENT_TYPE) return foldSync(prev, payload);
  if (type === FOUND_EVENT_TYPE) return foldFound(prev, payload);
  const { resource, action } = splitEventType(type);
  switch (resource) {
    case 'issue':
      return foldIssue(prev, action, payload);
    case 'error':
      return foldError(prev, payload, at);
    case 'event_alert':
      return foldIssueAlert(prev, payload, at, alertShown(type, payload, routeId));
    case 'activity_alert':
      return foldActivity(prev, payload, at);
    case 'comment':
      return foldComment(action, payload, at);
    case 'seer':
      return foldSeer(prev, action, payload);
    case 'metric_alert':
      return foldIncident(prev, action, payload, alertShown(type, payload, routeId));
    default:
      return { update: {}, line: type };
  }
}

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
  } = foldFor(prev, event.type, event.payload, event.at, event.routeId);
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
  if (saysWhereItStands(update, clear)) state.standingAsOf = Math.max(prev?.standingAsOf ?? asOf, asOf);
  const echoes = left ?? expecting(echoesOf(prev), expects, event.at);
  if (echoes.length > 0) state.echoes = echoes;
  else delete state.echoes;
  if (!silent) {
    state.lastUpdate = { text: line, at: event.at };
    state.history = [...base.history, { text: line, at: event.at }].slice(-HISTORY_KEPT);
  }
  // What adds no line is no news: it neither moves the card down nor fills the thread.
  return { state, line, attention: attention && !silent, detailed: detailed && !silent, silent };
}
