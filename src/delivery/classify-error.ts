import { DiscordAPIError } from 'discord.js';
import { truncate } from '../embed/text.js';
import { DISCORD, HOLD_REASONS, isDiscordFailure } from './discord-codes.js';

export type FailureKind =
  /** A person can fix it (access, permissions, a deleted channel, the bot token): hold the channel. */
  | 'hold'
  /** Discord refused the message body (50035): split a batch, or draw the event more plainly. */
  | 'invalid'
  /** Discord's outage, a timeout, a network error, a rate limit: try again soon, and pace every channel. */
  | 'transient'
  /** Any other refusal of Discord's: the same request would be refused again. */
  | 'refused'
  /** Dispatch's own trouble (its database, a bug): this one step is tried again later; Discord is not to blame. */
  | 'internal';

export interface Failure {
  kind: FailureKind;
  /** Discord's error code, or the HTTP status when there is none (401). */
  code?: number;
  reason: string;
}

/**
 * A send that must not be made at all, found out before its request (a DM to a member who left the
 * server): refused for good, without asking Discord.
 */
export class Undeliverable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Undeliverable';
  }
}

function describe(error: unknown): string {
  const name = (error as { name?: string } | null)?.name ?? 'Error';
  const message = (error as { message?: string } | null)?.message ?? String(error);
  return name === 'Error' ? message : `${name}: ${message}`;
}

/** What a failed step of a delivery means for the events it carried. */
export function classifyFailure(error: unknown): Failure {
  if (error instanceof Undeliverable) return { kind: 'refused', reason: error.message };
  if (error instanceof DiscordAPIError) {
    const code = typeof error.code === 'number' ? error.code : Number(error.code);
    const known = HOLD_REASONS.get(code);
    if (known) return { kind: 'hold', code, reason: `Discord ${code} ${known}` };
    if (code === DISCORD.INVALID_FORM_BODY) return { kind: 'invalid', code, reason: `Discord ${code} Invalid Form Body: ${error.message}` };
    // A rejected token is the operator's to fix; keep the events until it is.
    if (error.status === 401) return { kind: 'hold', code: 401, reason: 'Discord 401: the bot token was rejected' };
    if (error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
      return { kind: 'refused', code, reason: `Discord ${error.status} ${code || ''} ${error.message}`.replace(/\s+/g, ' ') };
    }
    return { kind: 'transient', reason: `Discord ${error.status}: ${error.message}` };
  }
  // HTTPError (5xx after discord.js gave up), rate limits, and Discord out of reach.
  if (isDiscordFailure(error)) {
    const status = (error as { status?: unknown }).status;
    return { kind: 'transient', reason: truncate(`${typeof status === 'number' ? `Discord ${status}: ` : ''}${describe(error)}`, 300) };
  }
  return { kind: 'internal', reason: truncate(`Dispatch could not complete the delivery: ${describe(error)}`, 300) };
}
