import type { Client } from 'discord.js';

/**
 * Calls `changed(guildId)` when something in a server changed that can give the bot back a
 * permission it lacked: a channel created or edited (its permission overwrites), a role created
 * or edited, or the bot's own roles.
 */
export function onServerChange(client: Client, changed: (guildId: string) => void): void {
  client.on('channelCreate', (channel) => changed(channel.guildId));
  client.on('channelUpdate', (_old, channel) => {
    if ('guildId' in channel && channel.guildId) changed(channel.guildId);
  });
  client.on('roleCreate', (role) => changed(role.guild.id));
  client.on('roleUpdate', (_old, role) => changed(role.guild.id));
  client.on('guildMemberUpdate', (_old, member) => {
    if (member.id === client.user?.id) changed(member.guild.id);
  });
}
