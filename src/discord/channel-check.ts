import { ChannelType, PermissionFlagsBits, type Guild } from 'discord.js';
import { UserError } from '../user-error.js';

/** What the bot needs in a channel to post embeds there. */
const REQUIRED_CHANNEL_PERMISSIONS = [
  ['View Channel', PermissionFlagsBits.ViewChannel],
  ['Send Messages', PermissionFlagsBits.SendMessages],
  ['Embed Links', PermissionFlagsBits.EmbedLinks],
] as const;

const POSTABLE = new Set<ChannelType>([ChannelType.GuildText, ChannelType.GuildAnnouncement]);

export type ChannelProblem =
  | { kind: 'no server' }
  | { kind: 'no channel' }
  | { kind: 'not postable' }
  | { kind: 'missing'; permissions: string[] };

/**
 * Why the bot cannot post embeds in a channel of this guild, or undefined when it can. Uses the
 * gateway cache: no REST call.
 */
export function channelProblem(guild: Guild | null | undefined, channelId: string): ChannelProblem | undefined {
  if (!guild) return { kind: 'no server' };
  const channel = guild.channels.cache.get(channelId);
  if (!channel) return { kind: 'no channel' };
  if (!POSTABLE.has(channel.type)) return { kind: 'not postable' };
  const me = guild.members.me;
  const permissions = me ? channel.permissionsFor(me) : null;
  const missing = REQUIRED_CHANNEL_PERMISSIONS.filter(([, bit]) => !permissions?.has(bit)).map(([name]) => name);
  return missing.length > 0 ? { kind: 'missing', permissions: missing } : undefined;
}

/** A channel problem in words, for a member of the server. */
export function describeChannelProblem(problem: ChannelProblem, channelId: string): string {
  switch (problem.kind) {
    case 'no server':
      return 'Dispatch cannot see this server yet';
    case 'no channel':
      return `<#${channelId}> is not a channel of this server, or the bot cannot see it`;
    case 'not postable':
      return `<#${channelId}> is not a text or announcement channel`;
    case 'missing':
      return `the bot lacks ${problem.permissions.join(', ')} in <#${channelId}>`;
  }
}

/** Refuses, naming what is wrong, unless the bot can view, send and embed in the channel. */
export function assertCanPostIn(guild: Guild | null, channelId: string): void {
  const problem = channelProblem(guild, channelId);
  if (!problem) return;
  if (problem.kind === 'no server')
    throw new UserError('Dispatch cannot see this server yet. Make sure the bot was invited, then try again.');
  if (problem.kind === 'missing') {
    const them = problem.permissions.length === 1 ? 'it' : 'them';
    throw new UserError(
      `Dispatch is missing ${problem.permissions.join(', ')} in <#${channelId}>. Grant ${them} to the bot, then try again.`,
    );
  }
  throw new UserError(`${describeChannelProblem(problem, channelId)}.`);
}
