import type { Client } from 'discord.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import { isTokenRefused } from './token-refused.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 5 * 60 * 1000;

export type LoginOutcome = 'logged in' | 'stopped' | 'token refused';

/**
 * Logs the client in, retrying with exponential backoff until it works or `signal` aborts.
 * discord.js gives up at the first network error, and the webhook listener must keep
 * accepting events meanwhile, so the loop is ours and it never throws. With
 * `giveUpOnRefusedToken`, a 401 ends the loop instead: a token Discord refuses will not start
 * working by itself.
 */
export async function loginWithRetry(
  client: Client,
  token: string,
  logger: Logger,
  signal: AbortSignal,
  giveUpOnRefusedToken = false,
): Promise<LoginOutcome> {
  let delay = FIRST_DELAY_MS;
  while (!signal.aborted) {
    try {
      await client.login(token);
      return 'logged in';
    } catch (error) {
      if (signal.aborted) return 'stopped';
      if (giveUpOnRefusedToken && isTokenRefused(error)) return 'token refused';
      const reason = (error as Error).message ?? String(error);
      logger.warn({ reason, retry_in_ms: delay }, 'Discord login failed; webhooks are still accepted and queued');
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return 'stopped';
      }
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
  return 'stopped';
}
