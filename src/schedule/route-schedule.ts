import { atOrAbove } from '../routing/filter.js';
import { isOwnEvent } from '../own-events.js';
import { LEVELS, type Level } from '../sentry/facts.js';
import { addDays, instantAt, localDate, localMinutes, weekdayOf, type LocalDate } from './zoned-time.js';

/**
 * A route's quiet hours and digest schedule: the pure decisions (is it quiet now, does this event
 * still go out, when is the next digest due, which period does it cover), on the wall clock of the
 * route's time zone. Nothing here reads a clock or the database.
 */

export interface QuietHours {
  /** Minutes after local midnight; `from` after `to` spans midnight (22:00–08:00). */
  from: number;
  to: number;
  /** Events at or above this level still go out as usual during quiet hours. */
  pass: Level;
}

export interface DigestSchedule {
  every: 'daily' | 'weekly';
  /** 0 for Sunday … 6 for Saturday (weekly). */
  weekday: number;
  /** Minutes after local midnight. */
  at: number;
  /** Post a digest saying nothing happened, rather than nothing. */
  whenEmpty: boolean;
}

export interface RouteSchedule {
  timeZone: string;
  quiet?: QuietHours;
  digest?: DigestSchedule;
}

/** A stretch of time, `start` inclusive, `end` exclusive. */
export interface Period {
  start: number;
  end: number;
}

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** What a member typed that is not a schedule: the message says what is expected. */
export class ScheduleError extends Error {}

const DAY_MS = 86_400_000;

/** `9:00`, `09:00`, `21:30` → minutes after midnight. */
function parseClock(text: string): number | undefined {
  const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  return match ? Number(match[1]) * 60 + Number(match[2]) : undefined;
}

/** `22:00-08:00` (or with an en dash) → the quiet window's ends; `off` → null. */
export function parseQuiet(text: string): { from: number; to: number } | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'off' || trimmed === '-') return null;
  const [from, to, extra] = trimmed.split(/\s*[-–]\s*/).map(parseClock);
  if (from === undefined || to === undefined || extra !== undefined) {
    throw new ScheduleError('`quiet` is a time range like `22:00-08:00` (24-hour clock, may span midnight), or `off`.');
  }
  if (from === to) throw new ScheduleError('`quiet` must start and end at different times (`22:00-08:00`), or be `off`.');
  return { from, to };
}

/** `daily 09:00`, `weekly mon 09:00` → the schedule's when; `off` → null. */
export function parseDigest(text: string): Pick<DigestSchedule, 'every' | 'weekday' | 'at'> | null {
  const words = text.trim().toLowerCase().split(/\s+/);
  if (words.length === 1 && (words[0] === 'off' || words[0] === '-')) return null;
  const wrong = () =>
    new ScheduleError('`digest` is `daily 09:00`, `weekly mon 09:00` (sun, mon … sat; 24-hour clock in the route’s time zone), or `off`.');
  if (words[0] === 'daily' && words.length === 2) {
    const at = parseClock(words[1]!);
    if (at === undefined) throw wrong();
    return { every: 'daily', weekday: 0, at };
  }
  if (words[0] === 'weekly' && words.length === 3) {
    const weekday = WEEKDAYS.indexOf(words[1]!.slice(0, 3) as (typeof WEEKDAYS)[number]);
    const at = parseClock(words[2]!);
    if (weekday === -1 || at === undefined) throw wrong();
    return { every: 'weekly', weekday, at };
  }
  throw wrong();
}

const clock = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** `22:00–08:00`. */
export const describeQuiet = (quiet: Pick<QuietHours, 'from' | 'to'>) => `${clock(quiet.from)}–${clock(quiet.to)}`;
/** `daily 09:00`, `weekly mon 09:00`. */
export const describeDigest = (digest: Pick<DigestSchedule, 'every' | 'weekday' | 'at'>) =>
  digest.every === 'daily' ? `daily ${clock(digest.at)}` : `weekly ${WEEKDAYS[digest.weekday]} ${clock(digest.at)}`;

function inWindow(minutes: number, quiet: Pick<QuietHours, 'from' | 'to'>): boolean {
  return quiet.from < quiet.to ? minutes >= quiet.from && minutes < quiet.to : minutes >= quiet.from || minutes < quiet.to;
}

/** Is it quiet hours on the route at this instant? */
export function isQuiet(schedule: RouteSchedule, ms: number): boolean {
  return !!schedule.quiet && inWindow(localMinutes(ms, schedule.timeZone), schedule.quiet);
}

/**
 * Does this event go out as usual during quiet hours? At or above the route's `quiet-pass`
 * level, and metric alerts going critical. Events without a level (comments, Seer) wait.
 */
export function passesQuiet(quiet: QuietHours, eventType: string, level: Level | undefined): boolean {
  return eventType === 'metric_alert.critical' || atOrAbove(level, quiet.pass);
}

/** The quiet period that ends on `date` (it began the day before when it spans midnight). */
function quietPeriodEndingOn(date: LocalDate, schedule: RouteSchedule & { quiet: QuietHours }): Period {
  const { quiet, timeZone } = schedule;
  const end = instantAt(date, quiet.to, timeZone);
  const start = instantAt(quiet.from < quiet.to ? date : addDays(date, -1), quiet.from, timeZone);
  return { start, end };
}

/** The latest quiet period over by `ms` (its end at or before `ms`), if the route has quiet hours. */
export function lastQuietPeriod(schedule: RouteSchedule, ms: number): Period | undefined {
  if (!schedule.quiet) return undefined;
  const withQuiet = schedule as RouteSchedule & { quiet: QuietHours };
  const today = localDate(ms, schedule.timeZone);
  for (const days of [0, -1, -2]) {
    const period = quietPeriodEndingOn(addDays(today, days), withQuiet);
    if (period.end <= ms) return period;
  }
  return undefined;
}

/** When quiet hours end next, after `ms` (for `info`). */
export function nextQuietEnd(schedule: RouteSchedule, ms: number): number | undefined {
  if (!schedule.quiet) return undefined;
  const withQuiet = schedule as RouteSchedule & { quiet: QuietHours };
  const today = localDate(ms, schedule.timeZone);
  for (const days of [0, 1, 2]) {
    const { end } = quietPeriodEndingOn(addDays(today, days), withQuiet);
    if (end > ms) return end;
  }
  return undefined;
}

/** The digest's due time on a local date, or undefined when it is not due that day (weekly). */
function dueOn(date: LocalDate, schedule: RouteSchedule & { digest: DigestSchedule }): number | undefined {
  const { digest, timeZone } = schedule;
  if (digest.every === 'weekly' && weekdayOf(date) !== digest.weekday) return undefined;
  return instantAt(date, digest.at, timeZone);
}

/** The latest time a digest was due, at or before `ms`. */
export function lastDigestDue(schedule: RouteSchedule, ms: number): number | undefined {
  if (!schedule.digest) return undefined;
  const withDigest = schedule as RouteSchedule & { digest: DigestSchedule };
  const today = localDate(ms, schedule.timeZone);
  for (let days = 0; days >= -8; days--) {
    const due = dueOn(addDays(today, days), withDigest);
    if (due !== undefined && due <= ms) return due;
  }
  return undefined;
}

/** The next time a digest is due, after `ms`. */
export function nextDigestDue(schedule: RouteSchedule, ms: number): number | undefined {
  if (!schedule.digest) return undefined;
  const withDigest = schedule as RouteSchedule & { digest: DigestSchedule };
  const today = localDate(ms, schedule.timeZone);
  for (let days = 0; days <= 8; days++) {
    const due = dueOn(addDays(today, days), withDigest);
    if (due !== undefined && due > ms) return due;
  }
  return undefined;
}

/** The due time before `due`: where a digest's period starts when the one before it was posted on time. */
export function previousDigestDue(schedule: RouteSchedule, due: number): number | undefined {
  return lastDigestDue(schedule, due - 1);
}

/** A digest due this long ago or more is late: it says so (Dispatch was not running when it was due). */
export const LATE_AFTER_MS = 5 * 60_000;

/** How many periods of the schedule fit in a stretch (a digest that stood in for several missed ones says so). */
export function periodsIn(schedule: RouteSchedule, period: Period): number {
  if (!schedule.digest) return 1;
  const length = schedule.digest.every === 'daily' ? DAY_MS : 7 * DAY_MS;
  return Math.max(1, Math.round((period.end - period.start) / length));
}

/** The schedule columns of a route, as stored. */
export interface ScheduleColumns {
  timeZone: string;
  quietFrom: number | null;
  quietTo: number | null;
  quietPass: string;
  digestEvery: 'daily' | 'weekly' | null;
  digestWeekday: number;
  digestAt: number | null;
  digestWhenEmpty: boolean;
}

const isLevel = (text: string): text is Level => (LEVELS as readonly string[]).includes(text);

/** A route's schedule from its columns: no quiet hours or digest where they are not set. */
export function scheduleOf(route: ScheduleColumns): RouteSchedule {
  return {
    timeZone: route.timeZone,
    ...(route.quietFrom !== null && route.quietTo !== null
      ? { quiet: { from: route.quietFrom, to: route.quietTo, pass: isLevel(route.quietPass) ? route.quietPass : 'fatal' } }
      : {}),
    ...(route.digestEvery !== null && route.digestAt !== null
      ? { digest: { every: route.digestEvery, weekday: route.digestWeekday, at: route.digestAt, whenEmpty: route.digestWhenEmpty } }
      : {}),
  };
}

/**
 * What quiet hours do to one delivery of an event arriving at `ms`: nothing (`undefined`: outside
 * them, or the event passes), `quiet` on a feed route (kept for the digest at their end, not
 * posted), `muted` on a card route (its card is still posted and edited, without a notification
 * or a ping: the channel shows the truth, quietly). Dispatch's own events are never held: a
 * member who clicked a button is looking at the card.
 */
export function quietTreatment(
  layout: 'card' | 'feed',
  schedule: RouteSchedule,
  event: { type: string; level: Level | undefined },
  ms: number,
): 'quiet' | 'muted' | undefined {
  if (!schedule.quiet || isOwnEvent(event.type) || !isQuiet(schedule, ms)) return undefined;
  if (passesQuiet(schedule.quiet, event.type, event.level)) return undefined;
  return layout === 'card' ? 'muted' : 'quiet';
}
