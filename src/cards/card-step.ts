import type { CardState } from './card-state.js';
import type { ExpectedEcho, IssueEffect } from './echo.js';

/**
 * What one event says to a card, before it is applied (state.ts `applyEvent`): each kind of event
 * has its fold (fold-*.ts) that reads its payload and returns one of these. Pure.
 */
export interface CardStep {
  update: Partial<CardState>;
  /** What the event says is now empty (Sentry sends `null`: unassigned, no substatus). */
  clear?: (keyof CardState)[];
  line: string;
  /** The event needs eyes (attention.ts): the card may move down. */
  attention?: boolean;
  /** The event carries text worth reading in full in the thread. */
  detailed?: boolean;
  /** What this event from Sentry says it did to the issue, to recognize the echo of a change made from Discord. */
  effect?: IssueEffect;
  /** A change made from Discord: the webhook Sentry will send for it. */
  expects?: ExpectedEcho;
  /** Adds no line whatever it is (a read-back that found the card right). */
  quiet?: boolean;
  /** What it says of the issue is as of this time rather than the event's (a read-back: when its read began). */
  asOf?: number;
}

/** Only what the event says replaces what the card knew: a field the payload lacks keeps its value. */
export function merged<T extends object>(base: T, update: Partial<T>): T {
  const out = { ...base };
  for (const [key, value] of Object.entries(update))
    if (value !== undefined && value !== null && value !== '') (out as Record<string, unknown>)[key] = value;
  return out;
}
