import type { Job } from '../db/queue.js';
import { EMBED_LIMITS, embedLength } from '../embed/limits.js';
import type { RenderedEvent } from '../render/render-event.js';
import type { Failure } from './classify-error.js';
import { isOwnEvent } from '../own-events.js';
import type { Level } from '../sentry/facts.js';
import { passesQuiet, type QuietHours } from '../schedule/route-schedule.js';

/**
 * When an event goes out, with what, and what happens when Discord says no. Pure decisions: no
 * clock (the time is passed in), no database, no Discord; the worker carries them out.
 */

export interface FloodSettings {
  /** Collapse a source's backlog when more than this many events wait… */
  threshold: number;
  /** …and the oldest has waited longer than this. */
  afterMs: number;
}

export interface Backlog {
  waiting: number;
  oldestReceivedAt: number | null;
}

/** Past reading: more than `threshold` events waiting and the oldest older than `afterMs`. */
export function isFlooding(backlog: Backlog, now: number, flood: FloodSettings): boolean {
  return backlog.waiting > flood.threshold && backlog.oldestReceivedAt !== null && now - backlog.oldestReceivedAt > flood.afterMs;
}

/** A delivery about a Sentry issue (or metric alert incident) on a card route: it goes to that card. */
export function isCardJob(job: Pick<Job, 'layout' | 'cardKey'>): boolean {
  return job.layout === 'card' && !!job.cardKey;
}

/**
 * The events that may share the head's message: the head and those right behind it, up to the
 * first one that must go on its own (after a refused batch), already belongs to a batch, or is
 * about a card (cards have their own lane).
 */
export function joinableWithHead<J extends Pick<Job, 'solo' | 'batchId' | 'layout' | 'cardKey'>>(pending: readonly J[]): J[] {
  const joinable: J[] = [];
  for (const event of pending) {
    if (joinable.length > 0 && (event.solo || event.batchId || isCardJob(event))) break;
    joinable.push(event);
    if (event.solo) break;
  }
  return joinable;
}

/**
 * Batching: a lone waiting event is sent at once, so a quiet channel sees no delay. When two or
 * more wait, a burst is under way: only a full message (10 events) goes, or what has gathered
 * once the oldest has waited `lingerMs`. Discord takes about 5 messages per 5 s per channel, so a
 * burst of 100 costs 1 + 10 messages instead of dozens of small ones stuck behind rate limits.
 * Returns when to look again, or undefined to send now.
 */
export function gatheringUntil(joinable: readonly Pick<Job, 'receivedAt'>[], now: number, lingerMs: number): number | undefined {
  const lingerEnds = joinable[0]!.receivedAt + lingerMs;
  const gathering = joinable.length > 1 && joinable.length < EMBED_LIMITS.embedsPerMessage && now < lingerEnds;
  return gathering ? lingerEnds : undefined;
}

/**
 * How many of the leading parts go in one message: at most 10 embeds and 6,000 characters, and
 * only parts with the same content, since a message has one (a route's ping is shared by the events
 * that ping; a template's text keeps its event alone). Always at least one: every part alone is
 * within the limits.
 */
export function partsThatFit(parts: readonly Pick<RenderedEvent, 'embeds' | 'content'>[]): number {
  let embeds = 0;
  let characters = 0;
  let count = 0;
  for (const part of parts) {
    if (part.content !== parts[0]?.content) break;
    embeds += part.embeds.length;
    characters += part.embeds.reduce((n, e) => n + embedLength(e), 0);
    if (count > 0 && (embeds > EMBED_LIMITS.embedsPerMessage || characters > EMBED_LIMITS.total)) break;
    count += 1;
  }
  return Math.max(1, count);
}

/** The times that govern recovery. */
export const RECOVERY = {
  /** While sends fail transiently, at most one request is in flight, and no sooner than this after the last failure. */
  probeIntervalMs: 1000,
  /**
   * …and when no retry is due, the oldest waiting batch is sent anyway this long after the last
   * failure: Discord's return is noticed within this, however long the retries' own waits have grown.
   */
  outageProbeMs: 5000,
  /** A held channel is probed (one request) this often… */
  holdProbeIntervalMs: 10 * 60_000,
  /** …and this soon after a change in its server that could have fixed it. */
  holdProbeAfterChangeMs: 2000,
  /** After a failure to record a send in the database: the waits before trying again, the last repeating. */
  recordBackoffMs: [1000, 2000, 5000, 10_000, 30_000, 60_000],
} as const;

export interface RetrySettings {
  /** Waits before each retry; the last one repeats. */
  schedule: readonly number[];
  /** From receipt: past this, a transient failure gives up. */
  deadlineMs: number;
}

/**
 * When an event that failed transiently is tried again: the schedule's waits by attempts so far,
 * the last one repeating, until `deadlineMs` after it was received; then undefined (give up).
 */
export function nextAttemptAt(event: Pick<Job, 'attempts' | 'receivedAt'>, now: number, retry: RetrySettings): number | undefined {
  if (now - event.receivedAt >= retry.deadlineMs) return undefined;
  const wait = retry.schedule[Math.min(event.attempts, retry.schedule.length - 1)]!;
  return Math.min(now + wait, event.receivedAt + retry.deadlineMs);
}

/**
 * Discord outages: after a transient failure, sends go one at a time and at most one per
 * `probeIntervalMs`, so an outage costs about one failing request a second in all, whatever the
 * number of channels waiting. The first success ends it (and wakes every waiting retry).
 */
export function outageGate(
  lastTransientFailureAt: number | undefined,
  inFlight: number,
  now: number,
): { open: true } | { open: false; until?: number } {
  if (lastTransientFailureAt === undefined) return { open: true };
  if (inFlight > 0) return { open: false };
  const until = lastTransientFailureAt + RECOVERY.probeIntervalMs;
  return now >= until ? { open: true } : { open: false, until };
}

/**
 * Only Discord's own troubles make an outage (and so pace every channel): a failure of Dispatch's
 * own (its database, a bug) is that one delivery's, retried on its schedule, and slows nobody else.
 */
export function countsAsOutage(failure: Failure): boolean {
  return failure.kind === 'transient';
}

/**
 * A batch whose route moved while it was being sent follows the route only when Discord said
 * no for sure (it posted nothing). After a timeout, a reset or a 5xx it may have posted: the batch
 * is sent again where it was, under its nonce, so Discord answers with that message if it exists.
 */
export function followsMovedRoute(failure: Failure): boolean {
  return failure.kind === 'hold' || failure.kind === 'invalid' || failure.kind === 'refused';
}

/** During an outage with nothing due: when to probe Discord with the oldest waiting batch, or undefined outside an outage. */
export function outageProbeAt(lastTransientFailureAt: number | undefined): number | undefined {
  return lastTransientFailureAt === undefined ? undefined : lastTransientFailureAt + RECOVERY.outageProbeMs;
}

/** A delivery about to be sent, as notifying decides it: muted on arrival, its level, and its route's quiet hours if they are on now. */
export interface SilenceInput {
  muted: boolean;
  eventType: string;
  level: Level | undefined;
  /** The route's quiet hours, when it is quiet hours on the route at the time of the send. */
  quietNow: QuietHours | undefined;
}

/**
 * Notify or stay silent, decided here for every send: a feed message, a card posted or moved down,
 * its thread lines, a digest. A delivery notifies unless it arrived in its route's quiet hours
 * below `quiet-pass` (muted), or its route is quiet now and it does not pass them (below
 * `quiet-pass`; Dispatch's own events — a digest, a read-back, a click — never pass). A send stays
 * silent when none of its deliveries notifies: nothing notifies inside quiet hours but what passes.
 */
export function staysSilent(jobs: readonly SilenceInput[]): boolean {
  const notifies = (job: SilenceInput) =>
    !job.muted && (job.quietNow === undefined || (!isOwnEvent(job.eventType) && passesQuiet(job.quietNow, job.eventType, job.level)));
  return jobs.length > 0 && !jobs.some(notifies);
}

/** A card is edited at most once a second: updates that arrive meanwhile become one edit. */
export const CARD_EDIT_EVERY_MS = 1000;

/** When a card may next be edited. */
export function cardEditAt(lastEditAt: number): number {
  return lastEditAt + CARD_EDIT_EVERY_MS;
}

/**
 * Attention moves a card down: an edit to an old message goes unseen. Only events that need eyes
 * (a regression, an escalation, an alert firing again) do, and only when the card is older than
 * `bumpAfterMs` or no longer among the channel's latest messages (asked last, since it costs a request).
 */
export async function needsBump(card: {
  attention: boolean;
  postedAt: number;
  now: number;
  bumpAfterMs: number;
  visible: () => Promise<boolean>;
}): Promise<boolean> {
  if (!card.attention) return false;
  if (card.now - card.postedAt > card.bumpAfterMs) return true;
  return !(await card.visible());
}

/** The drawings an event can go out with, each plainer than the one before. */
export const DRAWINGS = ['as usual', 'built-in embed', 'generic embed'] as const;

/** What to do with a batch Discord did not take. */
export type AfterFailure =
  /** Hold the channel: a person must fix something; its events wait. */
  | { action: 'hold' }
  /** Send its events one by one, to find the one Discord refuses. */
  | { action: 'split' }
  /** Split a refused flood summary into one message per event type. */
  | { action: 'split-summary' }
  /** Draw the one event more plainly (a template Discord refused → built-in → generic) and send again. */
  | { action: 'redraw'; renderFallback: number }
  /** Try the same message again (see nextAttemptAt). */
  | { action: 'retry' }
  /** Give up on these events: Discord will refuse them again. */
  | { action: 'fail' };

/**
 * `drawings[i]` is how `batch[i]` was drawn this time (an index into DRAWINGS): a template Discord
 * refuses gives way to the built-in embed, and that to the generic one, before anything fails.
 */
export function afterFailure(
  failure: Failure,
  batch: readonly Pick<Job, 'summary' | 'eventType'>[],
  drawings: readonly number[],
): AfterFailure {
  switch (failure.kind) {
    case 'hold':
      return { action: 'hold' };
    case 'transient':
    case 'internal':
      return { action: 'retry' };
    case 'refused':
      return { action: 'fail' };
    case 'invalid': {
      if (batch[0]?.summary) return new Set(batch.map((e) => e.eventType)).size > 1 ? { action: 'split-summary' } : { action: 'fail' };
      if (batch.length > 1) return { action: 'split' };
      const drawing = drawings[0] ?? DRAWINGS.length - 1;
      return drawing < DRAWINGS.length - 1 ? { action: 'redraw', renderFallback: drawing + 1 } : { action: 'fail' };
    }
  }
}
