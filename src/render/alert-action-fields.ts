import type { APIEmbed, APIEmbedField } from 'discord.js';
import { LimitedEmbedBuilder } from '../embed/builder.js';
import { field } from '../embed/fields.js';
import { prose } from '../embed/markdown.js';
import { truncate } from '../embed/text.js';
import { MISSING_ROUTE_LINE } from '../routing/select-routes.js';

/** The longest note shown; the settings check refuses longer ones, but an unchecked payload may carry anything. */
const NOTE_SHOWN = 500;

/**
 * What an alert routed by its rule's Dispatch action adds to its message, feed embed or card alike:
 * the rule's note (payload text: escaped, so it can neither format nor mention) and, when the route
 * the rule named is gone, the line that says so.
 */
export function alertActionFields(alert: { note?: string; misrouted?: boolean }): APIEmbedField[] {
  return [
    field('⚠️ Route', alert.misrouted ? MISSING_ROUTE_LINE : undefined, false),
    field('Note', prose(alert.note && truncate(alert.note, NOTE_SHOWN)), false),
  ].filter((f): f is APIEmbedField => f !== undefined);
}

/** An embed with those fields first (they survive when a long embed loses its last fields), kept within Discord's limits. */
export function withAlertActionFields(embed: APIEmbed, alert: { note?: string; misrouted?: boolean }): APIEmbed {
  const fields = alertActionFields(alert);
  if (fields.length === 0) return embed;
  return LimitedEmbedBuilder.fit({ ...embed, fields: [...fields, ...(embed.fields ?? [])] });
}
