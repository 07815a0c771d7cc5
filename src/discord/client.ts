import { Client, GatewayIntentBits, Status } from 'discord.js';
import type { Logger } from '../logger.js';

/** The gateway client: it receives interactions. Messages to channels go through the delivery REST client. */
export function createDiscordClient(apiUrl: string, logger: Logger): Client {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: apiUrl, retries: 1 },
    allowedMentions: { parse: [] },
  });
  client.on('error', (error) => logger.error({ err: error }, 'Discord client error'));
  client.on('warn', (message) => logger.warn({ discord: message }, 'Discord client warning'));
  client.on('shardDisconnect', (_event, shardId) => logger.warn({ shard: shardId }, 'Discord gateway disconnected'));
  client.on('shardReconnecting', (shardId) => logger.info({ shard: shardId }, 'Discord gateway reconnecting'));
  client.once('clientReady', (ready) => logger.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'Discord gateway ready'));
  return client;
}

export function gatewayState(client: Client): string {
  if (client.isReady()) return 'ready';
  const name = Status[client.ws.status];
  return name ? name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase() : 'unknown';
}
