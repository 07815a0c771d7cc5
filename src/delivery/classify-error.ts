import { DiscordAPIError } from 'discord.js';
import { truncate } from '../embed/text.js';

export type FailureKind =
  /** A person can fix it (access, permissions, a deleted channel, the bot token): hold the channel. */
  | 'hold'
  /** Discord refused the message body (50035): split a batch, or draw the event more plainly. */
  | 'invalid'
  /** Outage, timeout, network error, rate limit: try again soon. */
  | 'transient'
  /** Any other refusal: the same request would be refused again. */
  | 'refused';

export interface Failure {
  kind: FailureKind;
  /** Discord's error code, or the HTTP status when there is none (401). */
  code?: number;
  reason: string;
}

/** https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes */
const HOLD_CODES = new Map<number, string>([
  [50001, 'Missing Access: the bot cannot see the channel'],
  [50013, 'Missing Permissions: the bot needs View Channel, Send Messages and Embed Links in the channel'],
  [10003, 'Unknown Channel: the channel was deleted'],
]);
const INVALID_BODY = 50035;

/** What a failed request to Discord means for the events it carried. */
export function classifyFailure(error: unknown): Failure {
  if (error instanceof DiscordAPIError) {
    const code = typeof error.code === 'number' ? error.code : Number(error.code);
    const known = HOLD_CODES.get(code);
    if (known) return { kind: 'hold', code, reason: `Discord ${code} ${known}` };
    if (code === INVALID_BODY) return { kind: 'invalid', code, reason: `Discord ${code} Invalid Form Body: ${error.message}` };
    // A rejected token is the operator's to fix; keep the events until it is.
    if (error.status === 401) return { kind: 'hold', code: 401, reason: 'Discord 401: the bot token was rejected' };
    if (error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
      return { kind: 'refused', code, reason: `Discord ${error.status} ${code || ''} ${error.message}`.replace(/\s+/g, ' ') };
    }
    return { kind: 'transient', reason: `Discord ${error.status}: ${error.message}` };
  }
  // HTTPError (5xx after discord.js gave up), timeouts, resets, DNS: all transient.
  const name = (error as { name?: string } | null)?.name ?? 'Error';
  const status = (error as { status?: unknown } | null)?.status;
  const message = (error as { message?: string } | null)?.message ?? String(error);
  const prefix = typeof status === 'number' ? `Discord ${status}: ` : name === 'Error' ? '' : `${name}: `;
  return { kind: 'transient', reason: truncate(`${prefix}${message}`, 300) };
}
