import type { Client } from 'discord.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 5 * 60 * 1000;

/**
 * Logs the client in, retrying with exponential backoff until it works or `signal` aborts.
 * discord.js gives up at the first network error, and the webhook listener must keep
 * accepting events meanwhile, so the loop is ours and it never throws.
 */
export async function loginWithRetry(client: Client, token: string, logger: Logger, signal: AbortSignal): Promise<void> {
  let delay = FIRST_DELAY_MS;
  while (!signal.aborted) {
    try {
      await client.login(token);
      return;
    } catch (error) {
      if (signal.aborted) return;
      const reason = (error as Error).message ?? String(error);
      logger.warn({ reason, retry_in_ms: delay }, 'Discord login failed; webhooks are still accepted and queued');
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return;
      }
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
