import { asCardKey, type CardKey } from '../ids.js';
import type { EventFacts } from '../sentry/facts.js';
import type { SeerPullRequest } from '../sentry/formatters/seer.js';
import type { Actor, ExpectedEcho } from './echo.js';

/**
 * What a card shows: the current state of one Sentry issue (or metric alert incident), built up
 * from every event about it. Text here is as the payload wrote it; it is escaped when shown.
 * Stored as JSON with the card: a field added later is simply missing from older cards.
 * How an event changes it is state.ts's (`applyEvent`), through one fold per kind of event.
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
  /** Archived until a condition (src/cards/archive.ts): for how long it was asked (only a change made from Discord knows), until when, or until how many more events. */
  archive?: ArchiveCondition;
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

/** An archive's condition: `minutes` asked (from Discord), `until` (ISO, Sentry's ignoreUntil), `count` more events within `window` minutes. */
export interface ArchiveCondition {
  minutes?: number;
  until?: string;
  count?: number;
  window?: number;
}

/** What an alert routed by its rule's Dispatch action shows (src/render/alert-action-fields.ts). */
export interface AlertShown {
  note?: string;
  misrouted?: boolean;
}

/** What one event did to a card. */
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
