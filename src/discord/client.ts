import { Client, GatewayIntentBits, Options, Status } from 'discord.js';
import type { Logger } from '../logger.js';
import { inviteUrl } from './invite.js';
import { gatewayOutageLog } from './outage-log.js';

/** The gateway client: it receives interactions. Messages to channels go through the delivery REST client. */
export function createDiscordClient(apiUrl: string, logger: Logger, now: () => number): Client {
  const client = new Client({
    // Guilds alone: servers, channels, roles, threads and the bot's own member, which is all the
    // bot reads (channel permissions, role names). No messages, members or presences arrive.
    intents: [GatewayIntentBits.Guilds],
    // And nothing else is kept: in a large server these caches are most of a bot's memory.
    makeCache: Options.cacheWithLimits({
      ...Options.DefaultMakeCacheSettings,
      MessageManager: 0,
      ThreadManager: 0,
      ThreadMemberManager: 0,
      ReactionManager: 0,
      ReactionUserManager: 0,
      PresenceManager: 0,
      VoiceStateManager: 0,
      GuildEmojiManager: 0,
      GuildStickerManager: 0,
      GuildScheduledEventManager: 0,
      StageInstanceManager: 0,
      GuildInviteManager: 0,
      GuildBanManager: 0,
      AutoModerationRuleManager: 0,
      ApplicationCommandManager: 0,
      UserManager: { maxSize: 0, keepOverLimit: (user) => user.id === user.client.user?.id },
      GuildMemberManager: { maxSize: 0, keepOverLimit: (member) => member.id === member.client.user?.id },
    }),
    rest: { api: apiUrl, retries: 1 },
    allowedMentions: { parse: [] },
  });
  client.on('error', (error) => logger.error({ err: error }, 'Discord client error'));
  client.on('warn', (message) => logger.warn({ discord: message }, 'Discord client warning'));
  client.on('shardDisconnect', (_event, shardId) => logger.warn({ shard: shardId }, 'Discord gateway disconnected'));
  const outage = gatewayOutageLog(logger, now);
  client.on('shardReconnecting', (shardId) => outage.reconnecting(shardId));
  client.on('shardResume', (shardId) => outage.connected(shardId));
  client.on('shardReady', (shardId) => outage.connected(shardId));
  client.once('clientReady', (ready) => {
    logger.info({ user: ready.user.tag, guilds: ready.guilds.cache.size }, 'Discord gateway ready');
    // A first start before the invite: the link is what the operator needs next.
    if (ready.guilds.cache.size === 0) logger.warn(`the bot is in no server yet: invite it with ${inviteUrl(ready.application.id)}`);
  });
  return client;
}

export function gatewayState(client: Client): string {
  if (client.isReady()) return 'ready';
  const name = Status[client.ws.status];
  return name ? name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase() : 'unknown';
}
