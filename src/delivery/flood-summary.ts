import type { APIEmbed } from 'discord.js';
import { LimitedEmbedBuilder } from '../embed/builder.js';
import { COLORS } from '../embed/colors.js';
import { escapeText } from '../embed/markdown.js';

export interface CollapsedGroup {
  eventType: string;
  count: number;
  project: string | undefined;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** Titles of the latest few events, newest last: embed titles, whose payload text is escaped already. */
  examples: string[];
}

/** One embed standing for `count` events of one type that were not posted one by one. */
export function floodSummaryEmbed(group: CollapsedGroup): APIEmbed {
  const since = Math.floor(group.firstReceivedAt / 1000);
  const from = group.project ? ` from ${escapeText(group.project)}` : '';
  const plural = group.count === 1 ? '' : 's';
  return new LimitedEmbedBuilder()
    .setTitle(`+${group.count} more ${group.eventType} event${plural}${from} since ${timeOfDay(group.firstReceivedAt)}`)
    .setDescription(
      [
        `Discord could not keep up with this source, so ${group.count} waiting event${group.count === 1 ? ' is' : 's are'} summarized here instead of posted one by one. Waiting since <t:${since}:f> (<t:${since}:R>).`,
        group.examples.length > 0 ? `**Latest:**\n${group.examples.map((t) => `• ${t.replace(/\s+/g, ' ')}`).join('\n')}` : undefined,
      ]
        .filter(Boolean)
        .join('\n\n'),
    )
    .setColor(COLORS.orange)
    .setFooter({ text: `${group.eventType}${group.project ? ` · ${group.project}` : ''} · flood summary` })
    .setTimestamp(group.lastReceivedAt)
    .toJSON();
}

/** Titles cannot hold Discord timestamps, so the time of day is written out, in UTC. */
function timeOfDay(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}
