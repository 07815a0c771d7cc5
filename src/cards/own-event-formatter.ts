import { LimitedEmbedBuilder } from '../embed/builder.js';
import { COLORS } from '../embed/colors.js';
import { escapeText, oneLine } from '../embed/markdown.js';
import type { Formatter } from '../sentry/formatters/types.js';
import { applyEvent } from './state.js';

/**
 * A card's own event (a change made from Discord, a read-back from Sentry) shown as a feed
 * message: only when its route stopped being a card route between the change and its delivery.
 * It says what the card's thread would have said.
 */
export const ownEventFormatter: Formatter = (event) => {
  const { state, line } = applyEvent(undefined, { type: event.type, payload: event.payload, key: 'issue:', at: 0 });
  return new LimitedEmbedBuilder()
    .setAuthor({ name: state.shortId ?? 'Sentry issue' })
    .setTitle(oneLine(state.title) ?? 'A Sentry issue changed')
    .setURL(state.url)
    .setDescription(escapeText(line))
    .setColor(state.status === 'resolved' ? COLORS.green : COLORS.blue);
};
