import { DiscordAPIError, Routes, type REST } from 'discord.js';
import { asChannelId, type ChannelId, type GuildId, type UserId } from '../ids.js';

/** Discord's codes for a member or server that is not there (discord-api-docs: JSON Error Codes). */
const UNKNOWN_GUILD = 10004;
const UNKNOWN_MEMBER = 10007;

/** What Dispatch asks Discord about a member: their DM channel, and whether they are still in a server. */
export interface DiscordPeople {
  /** The bot's DM channel with a user (Discord makes it once and returns the same one after). */
  openDm(userId: UserId): Promise<ChannelId>;
  /** Whether the user is a member of the server now; undefined when Discord could not say (it failed or was unreachable). */
  isMember(guildId: GuildId, userId: UserId): Promise<boolean | undefined>;
}

/** A member's presence is taken as known for this long: a DM after they left goes out at most this late. */
const MEMBER_TTL_MS = 60_000;
const MAX_ENTRIES = 1000;

export function restPeople(rest: REST, now: () => number = Date.now): DiscordPeople {
  const seen = new Map<string, number>();
  return {
    async openDm(userId) {
      const channel = (await rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
      return asChannelId(channel.id);
    },
    async isMember(guildId, userId) {
      const key = `${guildId}:${userId}`;
      const at = seen.get(key);
      if (at !== undefined && now() - at < MEMBER_TTL_MS) return true;
      try {
        await rest.get(Routes.guildMember(guildId, userId));
      } catch (error) {
        const code = error instanceof DiscordAPIError ? Number(error.code) : undefined;
        if (code === UNKNOWN_MEMBER || code === UNKNOWN_GUILD) return false;
        return undefined;
      }
      if (seen.size >= MAX_ENTRIES) seen.clear();
      seen.set(key, now());
      return true;
    },
  };
}
