import type { Guild } from 'discord.js';
import { routesWithThreadProblem, setThreadProblem } from '../db/cards.js';
import type { Database } from '../db/database.js';
import { threadPermissionWarning } from '../discord/channel-check.js';
import type { Logger } from '../logger.js';
import { asGuildId } from '../ids.js';

/**
 * Something changed in a server: card routes whose threads Discord refused start threads again
 * where the bot now has the permissions (by the gateway's cache, so no request is spent on it).
 */
export async function retryCardThreads(db: Database, guild: Guild | undefined, logger: Logger): Promise<void> {
  if (!guild) return;
  try {
    for (const route of await routesWithThreadProblem(db, asGuildId(guild.id))) {
      if (threadPermissionWarning(guild, route.channelId) !== undefined) continue;
      await setThreadProblem(db, route.id, null);
      logger.info({ route_id: route.id, guild_id: guild.id }, 'the bot may start threads again: card threads are back on');
    }
  } catch (error) {
    logger.error({ err: error, guild_id: guild.id }, 'could not check card threads after a server change');
  }
}
