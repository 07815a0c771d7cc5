/** A time from a payload: an ISO string (`…Z` or `…+00:00`), or Unix seconds or milliseconds. */
export type TimeValue = string | number | null | undefined;

/** Milliseconds since the epoch, or NaN when the value is not a time JavaScript can represent. */
export function toMillis(value: TimeValue): number {
  if (typeof value === 'number') return new Date(value * (Math.abs(value) < 1e12 ? 1000 : 1)).getTime();
  if (typeof value === 'string' && value.trim() !== '') return new Date(Date.parse(value)).getTime();
  return Number.NaN;
}

const STYLES = new Set(['t', 'T', 'd', 'D', 'f', 'F', 'R']);

/** `<t:unix:R>`: Discord renders it in each reader's time zone. Undefined when there is no time. */
export function discordTimestamp(value: TimeValue, style = 'R'): string | undefined {
  const ms = toMillis(value);
  return Number.isNaN(ms) ? undefined : `<t:${Math.floor(ms / 1000)}:${STYLES.has(style) ? style : 'R'}>`;
}

/** The first of the candidates that is a time, as ISO for an embed's timestamp. */
export function isoTime(...candidates: TimeValue[]): string | undefined {
  for (const candidate of candidates) {
    const ms = toMillis(candidate);
    // Outside JavaScript's date range (±8.64e15 ms) a Date is invalid, and toISOString would throw.
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  return undefined;
}
