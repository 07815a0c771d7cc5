import type { Guild } from 'discord.js';
import type { Hold, Source } from '../src/db/schema.js';
import { channelProblem, describeChannelProblem } from '../src/discord/channel-check.js';
import { escapeText } from '../src/embed/markdown.js';
import { relativeTime } from './replies.js';

/**
 * Why a held channel is held, in words: what the bot lacks right now (from the gateway's view of
 * the server), else what Discord said when it refused.
 */
export function holdReason(hold: Hold, guild: Guild | null): string {
  if (hold.code === 401) return 'the bot token was rejected: the bot operator must set a valid DISCORD_TOKEN';
  const problem = channelProblem(guild, hold.channelId);
  if (problem && problem.kind !== 'no server') return describeChannelProblem(problem, hold.channelId);
  return `Discord refused posts to <#${hold.channelId}> (${escapeText(hold.reason)})`;
}

/** A source's status, as `list` and `info` show it: one line, and a line per held channel of its routes. */
export function statusLine(source: Source, holds: readonly Hold[], guild: Guild | null, waiting?: number): string {
  if (!source.enabled) return '⏸️ disabled';
  if (holds.length === 0) return '✅ enabled';
  const count = waiting === undefined ? '' : `; ${waiting} event${waiting === 1 ? '' : 's'} waiting`;
  return holds.map((hold) => `⛔ on hold since ${relativeTime(hold.since)}: ${holdReason(hold, guild)}`).join('\n') + count;
}
