import type { LimitedEmbedBuilder } from '../../embed/builder.js';

/** What a formatter sees: the event type and the parsed webhook body. */
export interface SentryEvent {
  type: string;
  resource: string;
  action: string;
  payload: unknown;
}

/**
 * Pure: payload in, embed out. No clock, no I/O. The builder cuts every value to Discord's limits;
 * the registry adds the footer (event type and project) that every embed carries.
 */
export type Formatter = (event: SentryEvent) => LimitedEmbedBuilder;
