import { DiscordAPIError } from 'discord.js';
import { truncate } from '../embed/text.js';

export type FailureKind =
  /** Discord will refuse this again (access, permissions, channel gone): record and stop. */
  | 'permanent'
  /** Discord refused the message body (50035): split a batch, or fail a single event. */
  | 'invalid'
  /** Outage, timeout, network error, rate limit: try again later. */
  | 'retry';

export interface Failure {
  kind: FailureKind;
  reason: string;
}

/** https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes */
const PERMANENT_CODES = new Map<number, string>([
  [50001, 'Missing Access: the bot cannot see the channel'],
  [50013, 'Missing Permissions: the bot needs Send Messages and Embed Links in the channel'],
  [10003, 'Unknown Channel: the channel was deleted'],
]);
const INVALID_BODY = 50035;

export function classifyFailure(error: unknown): Failure {
  if (error instanceof DiscordAPIError) {
    const code = typeof error.code === 'number' ? error.code : Number(error.code);
    const known = PERMANENT_CODES.get(code);
    if (known) return { kind: 'permanent', reason: `Discord ${code} ${known}` };
    if (code === INVALID_BODY) return { kind: 'invalid', reason: `Discord ${code} Invalid Form Body: ${error.message}` };
    // A rejected token is the operator's to fix; keep the events until it is.
    if (error.status === 401) return { kind: 'retry', reason: 'Discord 401: the bot token was rejected' };
    if (error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
      return { kind: 'permanent', reason: `Discord ${error.status} ${code || ''} ${error.message}`.replace(/\s+/g, ' ') };
    }
    return { kind: 'retry', reason: `Discord ${error.status}: ${error.message}` };
  }
  const name = (error as { name?: string } | null)?.name ?? 'Error';
  const message = (error as { message?: string } | null)?.message ?? String(error);
  return { kind: 'retry', reason: truncate(`${name === 'Error' ? '' : `${name}: `}${message}`, 300) };
}
