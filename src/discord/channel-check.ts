import { ChannelType, PermissionFlagsBits, type Guild } from 'discord.js';
import { UserError } from '../user-error.js';
import type { ChannelId } from '../ids.js';

/** What the bot needs in a channel to post embeds there. */
const REQUIRED_CHANNEL_PERMISSIONS = [
  ['View Channel', PermissionFlagsBits.ViewChannel],
  ['Send Messages', PermissionFlagsBits.SendMessages],
  ['Embed Links', PermissionFlagsBits.EmbedLinks],
] as const;

/** What a card needs besides: without these its history is shown on the card instead of in a thread. */
const THREAD_PERMISSIONS = [
  ['Create Public Threads', PermissionFlagsBits.CreatePublicThreads],
  ['Send Messages in Threads', PermissionFlagsBits.SendMessagesInThreads],
] as const;

/** What a card uses besides: the channel's latest messages, to tell whether the card has scrolled out of sight (src/delivery/sender.ts, countNewer). */
const HISTORY_PERMISSION = ['Read Message History', PermissionFlagsBits.ReadMessageHistory] as const;

/**
 * Every permission the bot uses in a channel, with what needs it: what the invite URL asks for
 * (src/discord/invite.ts), no more. Mentioning a role that is not mentionable would need Mention
 * @everyone, @here, and All Roles: that one is left to the server's admins (`route add` says when).
 */
export const BOT_PERMISSIONS: readonly { name: string; bit: bigint; neededFor: string }[] = [
  ...REQUIRED_CHANNEL_PERMISSIONS.map(([name, bit]) => ({ name, bit, neededFor: 'to post, on every route' })),
  ...THREAD_PERMISSIONS.map(([name, bit]) => ({ name, bit, neededFor: "for cards' history threads" })),
  { name: HISTORY_PERMISSION[0], bit: HISTORY_PERMISSION[1], neededFor: 'to tell whether a card has scrolled out of sight' },
];

const POSTABLE = new Set<ChannelType>([ChannelType.GuildText, ChannelType.GuildAnnouncement]);
/** Every message in these starts its own post: there is no channel to keep cards and their threads in. */
const FORUMS = new Set<ChannelType>([ChannelType.GuildForum, ChannelType.GuildMedia]);

export type ChannelProblem =
  | { kind: 'no server' }
  | { kind: 'no channel' }
  | { kind: 'not postable' }
  | { kind: 'forum' }
  | { kind: 'missing'; permissions: string[] };

/**
 * Why the bot cannot post embeds in a channel of this guild, or undefined when it can. Uses the
 * gateway cache: no REST call.
 */
export function channelProblem(guild: Guild | null | undefined, channelId: ChannelId): ChannelProblem | undefined {
  if (!guild) return { kind: 'no server' };
  const channel = guild.channels.cache.get(channelId);
  if (!channel) return { kind: 'no channel' };
  if (FORUMS.has(channel.type)) return { kind: 'forum' };
  if (!POSTABLE.has(channel.type)) return { kind: 'not postable' };
  const me = guild.members.me;
  const permissions = me ? channel.permissionsFor(me) : null;
  const missing = missingToPost((bit) => permissions?.has(bit) ?? false);
  return missing.length > 0 ? { kind: 'missing', permissions: missing } : undefined;
}

/** Whether the bot posts in channels of this type (text and announcement channels). */
export const isPostableType = (type: ChannelType): boolean => POSTABLE.has(type);

/** The names of what the bot lacks to post embeds, given whether it has each permission bit. */
export function missingToPost(has: (bit: bigint) => boolean): string[] {
  return REQUIRED_CHANNEL_PERMISSIONS.filter(([, bit]) => !has(bit)).map(([name]) => name);
}

/** A channel problem in words, for a member of the server. */
export function describeChannelProblem(problem: ChannelProblem, channelId: ChannelId): string {
  switch (problem.kind) {
    case 'no server':
      return 'Dispatch cannot see this server yet';
    case 'no channel':
      return `<#${channelId}> is not a channel of this server, or the bot cannot see it`;
    case 'not postable':
      return `<#${channelId}> is not a text or announcement channel`;
    case 'forum':
      return `<#${channelId}> is a forum: Dispatch posts in text or announcement channels, where cards keep their history in threads. Pick one of those`;
    case 'missing':
      return `the bot lacks ${problem.permissions.join(', ')} in <#${channelId}>`;
  }
}

/** Refuses, naming what is wrong, unless the bot can view, send and embed in the channel. */
export function assertCanPostIn(guild: Guild | null, channelId: ChannelId): void {
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

/** The names of what the bot lacks to keep cards' history in threads, given whether it has each permission bit. */
export function missingForThreads(has: (bit: bigint) => boolean): string[] {
  return THREAD_PERMISSIONS.filter(([, bit]) => !has(bit)).map(([name]) => name);
}

/** For a card route: a warning when the bot cannot keep cards' history in threads there, else undefined. */
export function threadPermissionWarning(guild: Guild | null, channelId: ChannelId): string | undefined {
  const channel = guild?.channels.cache.get(channelId);
  const me = guild?.members.me;
  const permissions = channel && me ? channel.permissionsFor(me) : null;
  const missing = missingForThreads((bit) => permissions?.has(bit) ?? false);
  if (missing.length === 0) return undefined;
  return `⚠️ The bot lacks ${missing.join(', ')} in <#${channelId}>: cards will show their history on the card instead of in a thread until it is granted.`;
}
