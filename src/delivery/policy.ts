import type { EventRow } from '../db/schema.js';
import { EMBED_LIMITS, embedLength } from '../embed/limits.js';
import type { RenderedEvent } from '../render/render-event.js';
import type { Failure } from './classify-error.js';

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

/**
 * The events that may share the head's message: the head and those right behind it, up to the
 * first one that must go on its own (after a refused batch) or already belongs to a batch.
 */
export function joinableWithHead(pending: readonly EventRow[]): EventRow[] {
  const joinable: EventRow[] = [];
  for (const event of pending) {
    if (joinable.length > 0 && (event.solo || event.batchId)) break;
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
export function gatheringUntil(joinable: readonly EventRow[], now: number, lingerMs: number): number | undefined {
  const lingerEnds = joinable[0]!.receivedAt + lingerMs;
  const gathering = joinable.length > 1 && joinable.length < EMBED_LIMITS.embedsPerMessage && now < lingerEnds;
  return gathering ? lingerEnds : undefined;
}

/**
 * How many of the leading parts go in one message: at most 10 embeds and 6,000 characters, and a
 * part with its own content (a template's text) alone, since a message has one content. Always
 * at least one: every part alone is within the limits.
 */
export function partsThatFit(parts: readonly Pick<RenderedEvent, 'embeds' | 'content'>[]): number {
  if (parts[0]?.content !== undefined) return 1;
  let embeds = 0;
  let characters = 0;
  let count = 0;
  for (const part of parts) {
    if (part.content !== undefined) break;
    embeds += part.embeds.length;
    characters += part.embeds.reduce((n, e) => n + embedLength(e), 0);
    if (count > 0 && (embeds > EMBED_LIMITS.embedsPerMessage || characters > EMBED_LIMITS.total)) break;
    count += 1;
  }
  return Math.max(1, count);
}

/** What to do with a batch Discord did not take. */
export type AfterFailure =
  /** Send its events one by one, to find the one Discord refuses. */
  | { action: 'split' }
  /** Try the same message again at `at` (per event, from its attempts so far). */
  | { action: 'retry' }
  /** Give up on these events: Discord will refuse them again. */
  | { action: 'fail' };

export function afterFailure(failure: Failure, batchSize: number): AfterFailure {
  if (failure.kind === 'invalid' && batchSize > 1) return { action: 'split' };
  if (failure.kind === 'retry') return { action: 'retry' };
  return { action: 'fail' };
}

/** When a failed event is tried again: `schedule[attempts so far]` from now; undefined past its end (give up). */
export function nextAttemptAt(event: Pick<EventRow, 'attempts'>, now: number, schedule: readonly number[]): number | undefined {
  const wait = schedule[event.attempts];
  return wait === undefined ? undefined : now + wait;
}
