import { describe, expect, it } from 'vitest';
import { buildDigest as draw, type DigestInput } from '../../src/schedule/digest.js';
import { factsOfEvents, type DigestEvent } from '../../src/schedule/digest-facts.js';
import {
  isQuiet,
  lastDigestDue,
  lastQuietPeriod,
  nextDigestDue,
  nextQuietEnd,
  parseDigest,
  parseQuiet,
  periodsIn,
  quietTreatment,
  ScheduleError,
  type RouteSchedule,
} from '../../src/schedule/route-schedule.js';
import { payloadOf, type EventKind } from '../simulation/payloads.js';

const at = (iso: string) => Date.parse(iso);
const hours = (ms: number) => ms / 3_600_000;
const berlin: RouteSchedule = { timeZone: 'Europe/Berlin', quiet: { from: 22 * 60, to: 8 * 60, pass: 'fatal' } };

describe('parsing what a member types', () => {
  it('reads quiet windows and digest times, and says what is expected otherwise', () => {
    expect(parseQuiet('22:00-08:00')).toEqual({ from: 1320, to: 480 });
    expect(parseQuiet(' 9:30 – 17:00 ')).toEqual({ from: 570, to: 1020 });
    expect(parseQuiet('off')).toBeNull();
    for (const bad of ['22-08', '25:00-08:00', '22:00', '22:00-22:00', '22:00-08:00-09:00'])
      expect(() => parseQuiet(bad), bad).toThrow(ScheduleError);
    expect(parseDigest('daily 09:00')).toEqual({ every: 'daily', weekday: 0, at: 540 });
    expect(parseDigest('weekly Monday 9:00')).toEqual({ every: 'weekly', weekday: 1, at: 540 });
    expect(parseDigest('off')).toBeNull();
    for (const bad of ['hourly', 'daily', 'weekly 09:00', 'weekly xyz 09:00', 'daily 9am'])
      expect(() => parseDigest(bad), bad).toThrow(ScheduleError);
  });
});

describe('quiet hours on the wall clock', () => {
  it('spans midnight', () => {
    expect(isQuiet(berlin, at('2026-01-10T21:30:00Z'))).toBe(true); // 22:30 CET
    expect(isQuiet(berlin, at('2026-01-11T06:59:00Z'))).toBe(true); // 07:59
    expect(isQuiet(berlin, at('2026-01-11T07:00:00Z'))).toBe(false); // 08:00
    expect(isQuiet(berlin, at('2026-01-11T12:00:00Z'))).toBe(false);
    expect(isQuiet({ timeZone: 'UTC' }, at('2026-01-11T02:00:00Z'))).toBe(false);
  });

  it('the night the clocks go forward is an hour shorter, the night they go back an hour longer', () => {
    const spring = lastQuietPeriod(berlin, at('2026-03-29T06:00:30Z'))!;
    expect(new Date(spring.start).toISOString()).toBe('2026-03-28T21:00:00.000Z'); // 22:00 CET
    expect(new Date(spring.end).toISOString()).toBe('2026-03-29T06:00:00.000Z'); // 08:00 CEST
    expect(hours(spring.end - spring.start)).toBe(9);
    const autumn = lastQuietPeriod(berlin, at('2026-10-25T07:00:00Z'))!;
    expect(new Date(autumn.start).toISOString()).toBe('2026-10-24T20:00:00.000Z'); // 22:00 CEST
    expect(new Date(autumn.end).toISOString()).toBe('2026-10-25T07:00:00.000Z'); // 08:00 CET
    expect(hours(autumn.end - autumn.start)).toBe(11);
    // A minute before the end, the last period over is the one before.
    expect(lastQuietPeriod(berlin, at('2026-03-29T05:59:00Z'))!.end).toBe(at('2026-03-28T07:00:00Z'));
    expect(nextQuietEnd(berlin, at('2026-03-29T05:59:00Z'))).toBe(at('2026-03-29T06:00:00Z'));
  });

  it('holds on a feed route, mutes on a card route, and lets fatal events, critical metric alerts and our own events through', () => {
    const night = at('2026-01-10T23:00:00Z');
    const day = at('2026-01-10T12:00:00Z');
    expect(quietTreatment('feed', berlin, { type: 'issue.created', level: 'error' }, night)).toBe('quiet');
    expect(quietTreatment('card', berlin, { type: 'issue.created', level: 'error' }, night)).toBe('muted');
    expect(quietTreatment('feed', berlin, { type: 'comment.created', level: undefined }, night)).toBe('quiet');
    expect(quietTreatment('feed', berlin, { type: 'issue.created', level: 'fatal' }, night)).toBeUndefined();
    expect(quietTreatment('feed', berlin, { type: 'metric_alert.critical', level: undefined }, night)).toBeUndefined();
    expect(quietTreatment('feed', berlin, { type: 'metric_alert.warning', level: undefined }, night)).toBe('quiet');
    expect(quietTreatment('card', berlin, { type: 'dispatch.triage', level: undefined }, night)).toBeUndefined();
    expect(quietTreatment('feed', berlin, { type: 'issue.created', level: 'error' }, day)).toBeUndefined();
    const lenient = { ...berlin, quiet: { ...berlin.quiet!, pass: 'warning' as const } };
    expect(quietTreatment('feed', lenient, { type: 'issue.created', level: 'error' }, night)).toBeUndefined();
  });
});

describe('digest times', () => {
  const newYork: RouteSchedule = { timeZone: 'America/New_York', digest: { every: 'daily', weekday: 0, at: 9 * 60, whenEmpty: false } };

  it('09:00 stays 09:00 across a daylight-saving change', () => {
    expect(nextDigestDue(newYork, at('2026-03-07T12:00:00Z'))).toBe(at('2026-03-07T14:00:00Z')); // EST
    expect(nextDigestDue(newYork, at('2026-03-07T15:00:00Z'))).toBe(at('2026-03-08T13:00:00Z')); // EDT
    expect(lastDigestDue(newYork, at('2026-03-08T13:30:00Z'))).toBe(at('2026-03-08T13:00:00Z'));
    expect(periodsIn(newYork, { start: at('2026-03-07T14:00:00Z'), end: at('2026-03-08T13:00:00Z') })).toBe(1);
    expect(periodsIn(newYork, { start: at('2026-03-05T14:00:00Z'), end: at('2026-03-08T13:00:00Z') })).toBe(3);
  });

  it('weekly on its day', () => {
    const weekly: RouteSchedule = { timeZone: 'UTC', digest: { every: 'weekly', weekday: 1, at: 9 * 60, whenEmpty: false } };
    expect(nextDigestDue(weekly, at('2026-12-02T10:00:00Z'))).toBe(at('2026-12-07T09:00:00Z')); // Wednesday → Monday
    expect(lastDigestDue(weekly, at('2026-12-02T10:00:00Z'))).toBe(at('2026-11-30T09:00:00Z'));
  });
});

describe('what a digest says', () => {
  /** A digest of these events, every one at hand (what the database reading gives for a period this small). */
  const buildDigest = (input: DigestInput, events: readonly DigestEvent[]) => draw(input, factsOfEvents(events));
  let n = 0;
  const event = (kind: EventKind, issue: string, receivedAt = at('2026-04-01T10:00:00Z')): DigestEvent => {
    const marks = {
      event: `E${++n}`,
      issue,
      issueId: `7${[...issue].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000_007, 7)}`,
      level: 'error' as const,
    };
    const issueId = kind === 'metric_alert.critical' ? `incident:${marks.issueId}` : `issue:${marks.issueId}`;
    return { eventType: kind, payload: payloadOf(kind, marks), receivedAt, cardKey: kind.startsWith('preprod') ? null : issueId };
  };
  const input = (over: Partial<DigestInput> = {}): DigestInput => ({
    kind: 'scheduled',
    schedule: { timeZone: 'UTC', digest: { every: 'daily', weekday: 0, at: 540, whenEmpty: false } },
    period: { start: at('2026-04-01T09:00:00Z'), end: at('2026-04-02T09:00:00Z') },
    routeName: 'alerts',
    cardLinks: new Map(),
    lateByMs: 0,
    periods: 1,
    ...over,
  });

  it('nothing when nothing happened, unless the route asks', () => {
    expect(buildDigest(input(), [])).toEqual([]);
    const empty = buildDigest(
      input({ schedule: { timeZone: 'UTC', digest: { every: 'daily', weekday: 0, at: 540, whenEmpty: true } } }),
      [],
    );
    expect(empty).toHaveLength(1);
    expect(empty[0]!.description).toContain('Nothing happened.');
  });

  it('links each issue to its card when it has one, escapes payload text, and says when it is late', () => {
    const evil = event('issue.created', 'A');
    (evil.payload as { data: { issue: { title: string } } }).data.issue.title = '**bold** @everyone [x](https://evil)';
    const embeds = buildDigest(
      input({ cardLinks: new Map([[evil.cardKey!, 'https://discord.com/channels/1/2/3']]), lateByMs: 2 * 3_600_000, periods: 2 }),
      [evil, event('issue.created', 'B'), event('error.created', 'B'), event('preprod_artifact.build_distribution_completed', 'C')],
    );
    const text = embeds[0]!.description!;
    expect(text).toContain('**[A](https://discord.com/channels/1/2/3)**');
    expect(text).toContain('\\*\\*bold\\*\\*');
    expect(text).not.toContain('[x](https://evil)');
    expect(text).toContain('Late: due');
    expect(text).toContain('it covers 2 periods');
    expect(text).toContain('1 other event (not about an issue).');
    // B has two events, A one: B first among new issues.
    expect(text.indexOf('[B]')).toBeLessThan(text.indexOf('[A]'));
  });

  it('a long night fills several messages, each within an embed, every issue once', () => {
    const events = Array.from({ length: 120 }, (_, i) => event('issue.created', `LONG-${i}-${'x'.repeat(60)}`));
    const embeds = buildDigest(input({ kind: 'quiet', schedule: berlin }), events);
    expect(embeds.length).toBeGreaterThan(1);
    for (const embed of embeds) expect(embed.description!.length).toBeLessThanOrEqual(4096);
    const all = embeds.map((e) => e.description).join('\n');
    // The quiet digest lists up to 100 issues, each once, and counts the rest.
    const listed = all.match(/\[LONG-\d+-x+\]/g)!;
    expect(listed).toHaveLength(100);
    expect(new Set(listed).size).toBe(100);
    expect(all).toContain('…and 20 more');
  });
});
