import type { Client } from 'discord.js';
import { asGuildId, guildOf, type GuildId } from '../ids.js';

/**
 * Calls `changed(guildId)` when something in a server changed that can give the bot back a
 * permission it lacked: a channel created or edited (its permission overwrites), a role created
 * or edited, or the bot's own roles.
 */
export function onServerChange(client: Client, changed: (guildId: GuildId) => void): void {
  client.on('channelCreate', (channel) => changed(guildOf(channel)));
  client.on('channelUpdate', (_old, channel) => {
    if ('guildId' in channel && channel.guildId) changed(guildOf(channel));
  });
  client.on('roleCreate', (role) => changed(asGuildId(role.guild.id)));
  client.on('roleUpdate', (_old, role) => changed(asGuildId(role.guild.id)));
  client.on('guildMemberUpdate', (_old, member) => {
    if (member.id === client.user?.id) changed(asGuildId(member.guild.id));
  });
}
