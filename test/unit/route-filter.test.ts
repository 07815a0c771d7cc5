import { describe, expect, it } from 'vitest';
import {
  applyFilterOptions,
  describeFilter,
  deserializeFilter,
  environmentCaseMismatches,
  FilterError,
  matchesFilter,
  serializeFilter,
  takesNoEvent,
} from '../../src/routing/filter.js';
import { KNOWN_EVENT_TYPES } from '../../src/sentry/event-type.js';
import { pingFor } from '../../src/routing/ping.js';
import type { EventFacts } from '../../src/sentry/facts.js';
import { asRoleId } from '../../src/ids.js';

const facts = (extra: Partial<EventFacts> = {}): EventFacts => ({ projects: [], tags: {}, ...extra });

describe('route filters', () => {
  it('reads what a member types, and clears a part with -', () => {
    const filter = applyFilterOptions(
      {},
      {
        events: 'issue.*, !issue.resolved metric_alert.critical',
        minLevel: 'ERROR',
        environments: 'production, staging',
        projects: 'web',
        tags: 'customer=acme, region = eu',
      },
    );
    expect(filter).toEqual({
      events: ['issue.*', '!issue.resolved', 'metric_alert.critical'],
      minLevel: 'error',
      environments: ['production', 'staging'],
      projects: ['web'],
      tags: [
        ['customer', 'acme'],
        ['region', 'eu'],
      ],
    });
    expect(applyFilterOptions(filter, { environments: '-', minLevel: null })).not.toHaveProperty('environments');
    expect(applyFilterOptions(filter, { environments: '-' }).minLevel).toBe('error');
    expect(deserializeFilter(serializeFilter(filter))).toEqual(filter);
    expect(describeFilter(filter)).toBe(
      'events issue.*, !issue.resolved, metric_alert.critical · level ≥ error · environments production, staging · projects web · tags customer=acme, region=eu',
    );
    expect(describeFilter({})).toBe('everything');
  });

  it.each([
    [{ events: 'issue.created, Issue Created' }, /`events`: "Issue" is not an event pattern/],
    [{ events: '!' }, /`events`: "!" is not an event pattern/],
    [{ events: ' , ' }, /`events` is empty/],
    [{ minLevel: 'critical' }, /`min-level`: "critical" is not a level/],
    [{ environments: '<@&1>' }, /`environments`: "<@&1>" is not a name/],
    [{ tags: 'customer' }, /`tags`: "customer" is not a `key=value` pair/],
    [{ tags: '=acme' }, /`tags`: "=acme" is not a `key=value` pair/],
  ])('refuses %o, pointing at the wrong part', (options, message) => {
    expect(() => applyFilterOptions({}, options)).toThrow(FilterError);
    expect(() => applyFilterOptions({}, options)).toThrow(message);
  });

  it('combines its parts with AND; an event without the value a part looks at passes that part', () => {
    const filter = applyFilterOptions(
      {},
      { events: '*, !seer.*', minLevel: 'error', environments: 'production', projects: 'web, api', tags: 'region=eu' },
    );
    const prodError = facts({ level: 'error', environment: 'production', projects: ['web'], tags: { region: 'eu' } });
    expect(matchesFilter(filter, 'error.created', prodError)).toBe(true);
    expect(matchesFilter(filter, 'seer.pr_created', prodError)).toBe(false);
    expect(matchesFilter(filter, 'error.created', { ...prodError, level: 'warning' })).toBe(false);
    expect(matchesFilter(filter, 'error.created', { ...prodError, environment: 'staging' })).toBe(false);
    expect(matchesFilter(filter, 'error.created', { ...prodError, projects: ['mobile'] })).toBe(false);
    expect(matchesFilter(filter, 'error.created', { ...prodError, tags: { region: 'us' } })).toBe(false);
    expect(matchesFilter(filter, 'comment.created', facts())).toBe(true); // no level, environment, project or tags
    expect(matchesFilter(filter, 'metric_alert.critical', facts({ level: 'error', projects: ['web', 'other'] }))).toBe(true);
    expect(matchesFilter(applyFilterOptions({}, { events: 'issue.created' }), 'issue.resolved', facts())).toBe(false);
    expect(matchesFilter(applyFilterOptions({}, { events: '!issue.resolved' }), 'issue.created', facts())).toBe(true);
  });

  it('a stored filter that does not read lets everything through', () => {
    expect(deserializeFilter('{not json')).toEqual({});
    expect(deserializeFilter('{"minLevel":"loud"}')).toEqual({});
  });
});

describe('route pings', () => {
  const route = { pingRoleId: asRoleId('111111111111111111'), pingLevel: 'error' };
  it('pings the route role at or above its level, and never for an event without a level', () => {
    expect(pingFor(route, facts({ level: 'fatal' }))).toEqual({ content: '<@&111111111111111111>', roleIds: ['111111111111111111'] });
    expect(pingFor(route, facts({ level: 'error' }))?.roleIds).toEqual(['111111111111111111']);
    expect(pingFor(route, facts({ level: 'warning' }))).toBeUndefined();
    expect(pingFor(route, facts())).toBeUndefined();
    expect(pingFor({ pingRoleId: null, pingLevel: 'debug' }, facts({ level: 'fatal' }))).toBeUndefined();
  });
});

describe('what a filter cannot do', () => {
  const events = (typed: string) => applyFilterOptions({}, { events: typed });

  it('a filter said to take no event takes none of the known event types, and one that takes some is not flagged', () => {
    for (const typed of [
      '!*',
      'issue.*, !*',
      'issue.created, !issue.*',
      'issue.created, issue.resolved, !issue.*',
      'issue.*, !issue.*',
      '*, !*',
    ])
      expect(takesNoEvent(events(typed)), typed).toBeDefined();
    for (const typed of ['*', '!issue.*', 'issue.*, !issue.created', 'issue.created, error.*, !issue.*', '*, !issue.*'])
      expect(takesNoEvent(events(typed)), typed).toBeUndefined();
    // The rule agrees with the matcher itself on every event type Sentry sends.
    for (const typed of ['!*', 'issue.created, !issue.*', 'issue.*, !issue.resolved', '*, !error.*']) {
      const filter = events(typed);
      const passes = [...KNOWN_EVENT_TYPES].some((type) => matchesFilter(filter, type, facts()));
      expect(takesNoEvent(filter) === undefined, typed).toBe(passes);
    }
  });

  it('names environments that the events carry only in another case', () => {
    const filter = applyFilterOptions({}, { environments: 'Production, staging, qa' });
    expect(environmentCaseMismatches(filter, ['production', 'staging', 'production'])).toEqual([
      { typed: 'Production', seen: 'production' },
    ]);
    expect(environmentCaseMismatches(filter, [])).toEqual([]);
    expect(environmentCaseMismatches({}, ['production'])).toEqual([]);
  });
});
