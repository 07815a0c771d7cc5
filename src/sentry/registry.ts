import type { APIEmbed } from 'discord.js';
import { fitEmbed } from './embed-limits.js';
import { splitEventType } from './event-type.js';
import { genericFormatter } from './formatters/generic.js';
import type { Formatter, SentryEvent } from './formatters/types.js';

/** Keyed by `resource.action` or `resource`; the most specific key wins, then the generic embed. */
const formatters = new Map<string, Formatter>([]);

export function formatterFor(type: string): Formatter {
  const { resource } = splitEventType(type);
  return formatters.get(type) ?? formatters.get(resource) ?? genericFormatter;
}

/**
 * The built-in embed for an event, always within Discord's limits. A formatter that throws on a
 * payload it did not expect falls back to the generic embed: an event is never lost to formatting.
 */
export function formatEvent(type: string, payload: unknown): APIEmbed {
  const { resource, action } = splitEventType(type);
  const event: SentryEvent = { type, resource, action, payload };
  try {
    return fitEmbed(formatterFor(type)(event));
  } catch {
    return fitEmbed(genericFormatter(event));
  }
}
