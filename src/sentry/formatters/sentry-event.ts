import { z } from 'zod';
import { loose, looseArray, optIdish, optNumberish, optString } from '../loose-schema.js';

/** The event object Sentry puts in `error.created` (data.error) and `event_alert.triggered` (data.event). */
export const SentryEventSchema = loose({
  event_id: optString,
  title: optString,
  message: optString,
  culprit: optString,
  level: optString,
  platform: optString,
  environment: optString,
  release: optString,
  datetime: optString,
  timestamp: optNumberish,
  url: optString,
  web_url: optString,
  issue_url: optString,
  issue_id: optIdish,
  project: optIdish,
  metadata: loose({ type: optString, value: optString }),
  exception: loose({ values: looseArray(z.looseObject({ type: optString, value: optString })) }),
  tags: looseArray(z.tuple([z.string(), z.string()])),
});
export type SentryEventData = NonNullable<z.output<typeof SentryEventSchema>>;

/** The exception that was raised last, which Sentry lists last, or the event metadata. */
export function exceptionOf(event: SentryEventData): { type?: string; value?: string } {
  const values = event.exception?.values ?? [];
  const last = values[values.length - 1];
  return { type: last?.type ?? event.metadata?.type, value: last?.value ?? event.metadata?.value };
}

export function tagOf(event: SentryEventData, key: string): string | undefined {
  return event.tags?.find(([k]) => k === key)?.[1];
}

export function eventTitle(event: SentryEventData): string | undefined {
  const { type, value } = exceptionOf(event);
  return event.title ?? ([type, value].filter(Boolean).join(': ') || event.message);
}
