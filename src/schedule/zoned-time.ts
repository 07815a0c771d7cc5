/**
 * Wall-clock time in an IANA time zone, from the runtime's own zone data (Intl): what "22:00 in
 * Europe/Berlin" is as an instant on a given day, and what a given instant reads there. Days with a
 * daylight-saving change are 23 or 25 hours long; a wall time the change skips (02:30 on the spring
 * night) is the instant the clock jumps past it (03:00 after the change: the first instant the
 * wall clock reads 02:30 or later, which is when `localMinutes` says it has passed), and one that
 * happens twice (02:30 on the autumn night) its first occurrence.
 */

/** A date on the wall calendar: year, month 1–12, day 1–31. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Is this a time zone the runtime knows (`Europe/Berlin`, `UTC`)? */
export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The zone's canonical spelling (`europe/berlin` → `Europe/Berlin`), or undefined when it is not one. */
export function canonicalTimeZone(name: string): string | undefined {
  const trimmed = name.trim();
  if (!trimmed || !isTimeZone(trimmed)) return undefined;
  return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
}

/** Every IANA zone the runtime knows, for autocomplete. */
export function timeZones(): string[] {
  const zones = (Intl as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  return zones.includes('UTC') ? zones : ['UTC', ...zones];
}

interface WallTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

function wallTime(ms: number, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** How far the zone's wall clock is ahead of UTC at this instant. */
function offsetAt(ms: number, timeZone: string): number {
  const w = wallTime(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The wall date an instant falls on in the zone. */
export function localDate(ms: number, timeZone: string): LocalDate {
  const { year, month, day } = wallTime(ms, timeZone);
  return { year, month, day };
}

/** Minutes after local midnight at this instant (0–1439). */
export function localMinutes(ms: number, timeZone: string): number {
  const { hour, minute } = wallTime(ms, timeZone);
  return hour * 60 + minute;
}

/** 0 for Sunday … 6 for Saturday, on the zone's calendar. */
export function localWeekday(ms: number, timeZone: string): number {
  const { year, month, day } = localDate(ms, timeZone);
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/** The date `days` after (or before) this one on the calendar. */
export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** 0 for Sunday … 6 for Saturday. */
export function weekdayOf(date: LocalDate): number {
  return new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
}

/** The instant the zone's wall clock reads `minutes` after midnight on `date`. */
export function instantAt(date: LocalDate, minutes: number, timeZone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutes * MINUTE;
  // The zone's offset before and after this wall time: they differ only across a change.
  const before = offsetAt(wall - DAY / 2, timeZone);
  const after = offsetAt(wall + DAY / 2, timeZone);
  const candidates = [wall - before, wall - after].filter((t) => t + offsetAt(t, timeZone) === wall);
  // Twice (autumn): the first.
  if (candidates.length > 0) return Math.min(...candidates);
  // Never (spring): the change itself, the first instant the clock reads later than this wall time.
  return changeBetween(wall - after, wall - before, before, timeZone);
}

/** The instant (to the minute) in `[from, to]` at which the zone's offset stops being `offsetBefore`. */
function changeBetween(from: number, to: number, offsetBefore: number, timeZone: string): number {
  let [lo, hi] = [Math.floor(from / MINUTE), Math.ceil(to / MINUTE)];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(mid * MINUTE, timeZone) === offsetBefore) lo = mid;
    else hi = mid;
  }
  return hi * MINUTE;
}
