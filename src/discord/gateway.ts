import type { Client } from 'discord.js';
import type { Logger } from '../logger.js';
import { loginWithRetry } from './login-loop.js';

/**
 * The Discord gateway session, held while this replica leads (always, with one process): `start`
 * logs a fresh client in (retrying in the background), `stop` logs it out. A client that was
 * destroyed cannot log in again, so each start makes a new one with `make`.
 * A token Discord refuses (401) before it has ever accepted it is a mistake in the settings, not
 * an outage: `onTokenRefused` is told, once, instead of retrying for ever. Refused after it was
 * accepted (reset in the portal while running), the login is retried, as for an outage.
 */
export class Gateway {
  private current: Client;
  private login: { abort: AbortController; done: Promise<void> } | undefined;
  private tokenAccepted = false;

  constructor(
    private readonly make: () => Client,
    private readonly token: string,
    private readonly logger: Logger,
    private readonly onTokenRefused?: () => void,
  ) {
    this.current = make();
  }

  get client(): Client {
    return this.current;
  }

  start(): void {
    if (this.login) return;
    const abort = new AbortController();
    const giveUp = this.onTokenRefused !== undefined && !this.tokenAccepted;
    const done = loginWithRetry(this.current, this.token, this.logger, abort.signal, giveUp).then((outcome) => {
      if (outcome === 'logged in') this.tokenAccepted = true;
      if (outcome === 'token refused') this.onTokenRefused?.();
    });
    this.login = { abort, done };
  }

  async stop(): Promise<void> {
    const login = this.login;
    if (!login) return;
    this.login = undefined;
    login.abort.abort();
    await login.done;
    const old = this.current;
    this.current = this.make();
    // Closing the connection on purpose is not an outage: nothing about it is logged after `stopped`.
    for (const event of ['shardDisconnect', 'shardReconnecting', 'shardResume', 'shardReady'] as const) old.removeAllListeners(event);
    await old.destroy();
  }
}
