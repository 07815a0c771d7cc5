import type { APIEmbed } from 'discord.js';
import { fitEmbed } from '../sentry/embed-limits.js';
import { COLORS, oneLine } from '../sentry/formatters/parts.js';

export interface CollapsedGroup {
  eventType: string;
  count: number;
  /** From the footer of the first event's own embed ("type · project"). */
  project: string | undefined;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** Titles of the latest few events, newest last. */
  examples: string[];
}

/** One embed standing for `count` events of one type that were not posted one by one. */
export function floodSummaryEmbed(group: CollapsedGroup): APIEmbed {
  const since = Math.floor(group.firstReceivedAt / 1000);
  const from = group.project ? ` from ${group.project}` : '';
  return fitEmbed({
    title: `+${group.count} more ${group.eventType} event${group.count === 1 ? '' : 's'}${from} since ${timeOfDay(group.firstReceivedAt)}`,
    description: [
      `Discord could not keep up with this source, so ${group.count} waiting event${group.count === 1 ? ' is' : 's are'} summarized here instead of posted one by one. Waiting since <t:${since}:f> (<t:${since}:R>).`,
      group.examples.length > 0 ? `**Latest:**\n${group.examples.map((t) => `• ${oneLine(t) ?? t}`).join('\n')}` : undefined,
    ]
      .filter(Boolean)
      .join('\n\n'),
    color: COLORS.orange,
    footer: { text: `${group.eventType}${group.project ? ` · ${group.project}` : ''} · flood summary` },
    timestamp: new Date(group.lastReceivedAt).toISOString(),
  });
}

/** Titles cannot hold Discord timestamps, so the time of day is written out, in UTC. */
function timeOfDay(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

export function projectFromFooter(embed: APIEmbed): string | undefined {
  return embed.footer?.text.split(' · ')[1];
}
