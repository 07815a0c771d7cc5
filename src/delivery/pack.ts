import type { APIEmbed } from 'discord.js';
import { EMBED_LIMITS, embedLength } from '../sentry/embed-limits.js';

/**
 * How many of the leading embeds fit in one message: at most 10, at most 6000 characters in all.
 * Always at least one, since every embed alone is already within the total.
 */
export function countThatFit(embeds: readonly APIEmbed[]): number {
  let total = 0;
  let count = 0;
  for (const embed of embeds) {
    if (count === EMBED_LIMITS.embedsPerMessage) break;
    total += embedLength(embed);
    if (count > 0 && total > EMBED_LIMITS.total) break;
    count += 1;
  }
  return Math.max(1, Math.min(count, embeds.length));
}
