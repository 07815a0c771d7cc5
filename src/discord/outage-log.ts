import type { Logger } from '../logger.js';

/**
 * What the log says while the gateway is away. discord.js reports every reconnection attempt
 * (about two a second while Discord's gateway is unreachable); the log gets one line when the
 * connection is lost and one when it is back, with how long it took and how many attempts.
 */
export interface GatewayOutageLog {
  /** discord.js is trying to connect again (`shardReconnecting`). */
  reconnecting(shard: number): void;
  /** The session is back (`shardResume` or `shardReady`). */
  connected(shard: number): void;
}

export function gatewayOutageLog(logger: Pick<Logger, 'info' | 'warn'>, now: () => number): GatewayOutageLog {
  let outage: { since: number; attempts: number } | undefined;
  return {
    reconnecting(shard) {
      if (outage) {
        outage.attempts += 1;
        return;
      }
      outage = { since: now(), attempts: 1 };
      logger.warn({ shard }, 'Discord gateway connection lost; reconnecting (webhooks are still accepted and posted)');
    },
    connected(shard) {
      if (!outage) return;
      const { since, attempts } = outage;
      outage = undefined;
      logger.info({ shard, attempts, down_ms: now() - since }, 'Discord gateway reconnected');
    },
  };
}
