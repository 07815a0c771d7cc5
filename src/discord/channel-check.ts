import { ChannelType, PermissionFlagsBits, type Guild } from 'discord.js';
import { UserError } from '../user-error.js';

/** What the bot needs in a channel to post embeds there. */
const REQUIRED_CHANNEL_PERMISSIONS = [
  ['View Channel', PermissionFlagsBits.ViewChannel],
  ['Send Messages', PermissionFlagsBits.SendMessages],
  ['Embed Links', PermissionFlagsBits.EmbedLinks],
] as const;

const POSTABLE = new Set<ChannelType>([ChannelType.GuildText, ChannelType.GuildAnnouncement]);

/**
 * Refuses, naming what is wrong, unless the channel is a text or announcement channel of this
 * guild in which the bot can view, send and embed. Uses the gateway cache: no REST call.
 */
export function assertCanPostIn(guild: Guild | null, channelId: string): void {
  if (!guild) throw new UserError('Dispatch cannot see this server yet. Make sure the bot was invited, then try again.');
  const channel = guild.channels.cache.get(channelId);
  if (!channel) throw new UserError(`<#${channelId}> is not a channel of this server, or the bot cannot see it.`);
  if (!POSTABLE.has(channel.type)) throw new UserError(`<#${channelId}> is not a text or announcement channel.`);
  const me = guild.members.me;
  const permissions = me ? channel.permissionsFor(me) : null;
  const missing = REQUIRED_CHANNEL_PERMISSIONS.filter(([, bit]) => !permissions?.has(bit)).map(([name]) => name);
  if (missing.length > 0) {
    throw new UserError(
      `Dispatch is missing ${missing.join(', ')} in <#${channelId}>. Grant ${missing.length === 1 ? 'it' : 'them'} to the bot, then try again.`,
    );
  }
}
