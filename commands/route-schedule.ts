import type { RouteChanges } from '../src/db/routes.js';
import type { Route } from '../src/db/schema.js';
import { LEVELS } from '../src/sentry/facts.js';
import {
  describeDigest,
  describeQuiet,
  isQuiet,
  nextDigestDue,
  nextQuietEnd,
  parseDigest,
  parseQuiet,
  scheduleOf,
  ScheduleError,
} from '../src/schedule/route-schedule.js';
import { canonicalTimeZone, timeZones } from '../src/schedule/zoned-time.js';
import { UserError } from '../src/user-error.js';
import type { CommandInvocation } from './types.js';

type Interaction = CommandInvocation;

/** Options `quiet`, `timezone`, `quiet-pass`, `digest` and `digest-empty` of `route edit`, as changes (undefined: none given). */
export function scheduleChanges(interaction: Interaction, route: Route): RouteChanges['schedule'] {
  const quiet = interaction.options.getString('quiet');
  const zone = interaction.options.getString('timezone');
  const pass = interaction.options.getString('quiet-pass');
  const digest = interaction.options.getString('digest');
  const whenEmpty = interaction.options.getBoolean('digest-empty');
  if (quiet === null && zone === null && pass === null && digest === null && whenEmpty === null) return undefined;
  const changes: NonNullable<RouteChanges['schedule']> = {};
  try {
    if (quiet !== null) {
      const window = parseQuiet(quiet);
      changes.quietFrom = window?.from ?? null;
      changes.quietTo = window?.to ?? null;
    }
    if (digest !== null) {
      const when = parseDigest(digest);
      changes.digestEvery = when?.every ?? null;
      changes.digestAt = when?.at ?? null;
      changes.digestWeekday = when?.weekday ?? 0;
    }
  } catch (error) {
    if (error instanceof ScheduleError) throw new UserError(error.message);
    throw error;
  }
  if (zone !== null) {
    const canonical = canonicalTimeZone(zone);
    if (!canonical)
      throw new UserError(`"${zone.slice(0, 64)}" is not a time zone: pick one from the list, like \`Europe/Berlin\` or \`UTC\`.`);
    changes.timeZone = canonical;
  }
  if (pass !== null) {
    if (!(LEVELS as readonly string[]).includes(pass)) throw new UserError(`\`quiet-pass\` is one of ${LEVELS.join(', ')}.`);
    changes.quietPass = pass;
  }
  if (whenEmpty !== null) changes.digestWhenEmpty = whenEmpty;
  const quietNow = (changes.quietFrom !== undefined ? changes.quietFrom : route.quietFrom) !== null;
  if (pass !== null && !quietNow)
    throw new UserError('`quiet-pass` says what still goes out during quiet hours: set `quiet` too (e.g. `22:00-08:00`).');
  return changes;
}

const dateTime = (ms: number) => `<t:${Math.floor(ms / 1000)}:f>`;

/**
 * A route's quiet hours and digest in a line or two, with when they next act (`list`, `info`,
 * `edit`'s answer); undefined when it has neither.
 */
export function describeSchedule(route: Route, now: number): string | undefined {
  const schedule = scheduleOf(route);
  const lines: string[] = [];
  if (schedule.quiet) {
    const state = isQuiet(schedule, now) ? `quiet now, until ${dateTime(nextQuietEnd(schedule, now)!)}` : 'not quiet now';
    lines.push(
      `🌙 quiet ${describeQuiet(schedule.quiet)} ${schedule.timeZone} · ${schedule.quiet.pass} and critical metric alerts still go out · ${state}`,
    );
  }
  if (schedule.digest) {
    const next = nextDigestDue(schedule, now);
    lines.push(
      `📋 digest ${describeDigest(schedule.digest)} ${schedule.timeZone}${next ? ` · next ${dateTime(next)}` : ''}${schedule.digest.whenEmpty ? ' · also when nothing happened' : ''}`,
    );
  }
  return lines.length > 0 ? lines.join('\n') : undefined;
}

/** Time zones for autocomplete: those containing what was typed, at most Discord's 25. */
export function timeZoneChoices(typed: string): string[] {
  const needle = typed.trim().toLowerCase().replace(/\s+/g, '_');
  return timeZones()
    .filter((zone) => zone.toLowerCase().includes(needle))
    .slice(0, 25);
}
