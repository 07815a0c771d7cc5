import type { APIEmbed } from 'discord.js';

/** What a formatter sees: the event type and the parsed webhook body. */
export interface SentryEvent {
  type: string;
  resource: string;
  action: string;
  payload: unknown;
}

/** Pure: payload in, embed out. No clock, no I/O. Limits are applied by the registry afterwards. */
export type Formatter = (event: SentryEvent) => APIEmbed;
