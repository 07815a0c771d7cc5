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

/**
 * Over REST. Membership is asked afresh before each DM (one request, a DM being rare): a member who
 * left the server a moment ago gets nothing more about it.
 */
export function restPeople(rest: REST): DiscordPeople {
  return {
    async openDm(userId) {
      const channel = (await rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
      return asChannelId(channel.id);
    },
    async isMember(guildId, userId) {
      try {
        await rest.get(Routes.guildMember(guildId, userId));
        return true;
      } catch (error) {
        const code = error instanceof DiscordAPIError ? Number(error.code) : undefined;
        return code === UNKNOWN_MEMBER || code === UNKNOWN_GUILD ? false : undefined;
      }
    },
  };
}
