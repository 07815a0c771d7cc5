import { describe, expect, it } from 'vitest';
import { archiveConditionText, durationWords, keptArchive } from '../../src/cards/archive.js';
import type { CardState } from '../../src/cards/card-state.js';
import { applyEvent } from '../../src/cards/state.js';
import { asCardKey, asMemberLinkId, asRouteId, asUserId, type CardKey } from '../../src/ids.js';
import { directMessageEmbed } from '../../src/people/dm-embed.js';
import { parseDmKinds, storedDmKinds } from '../../src/people/dm-kinds.js';
import { dmSentKey } from '../../src/people/dm-once.js';
import { dmKindOf, dmOnceKey, dmRecipients, dmSubjectOf, type DmCandidate } from '../../src/people/dm-select.js';
import { ARCHIVE_CHOICES, TRIAGE_ACTIONS } from '../../src/triage/actions.js';
import { firstIssueLink, parseIssueRef, sameSentry } from '../../src/triage/issue-ref.js';
import { loadFixture } from '../support/sentry.js';

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const BASE = 'https://sentry.io';

const issue = (action: string, changes: Payload = {}, actor: Payload = { type: 'application', id: 'sentry', name: 'Sentry' }) => ({
  ...created,
  action,
  actor,
  data: { ...created.data, issue: { ...created.data.issue, ...changes } },
});
const assignedTo = (id: string, by: Payload = { type: 'application', id: 'sentry' }) => ({
  ...issue('assigned', { assignedTo: { type: 'user', id, name: 'Bob' } }, by),
  data: {
    ...created.data,
    issue: { ...created.data.issue, assignedTo: { type: 'user', id, name: 'Bob' } },
    assignee: { type: 'user', id: Number(id), name: 'Bob' },
  },
});
const bob: DmCandidate = {
  linkId: asMemberLinkId(1),
  userId: asUserId('100000000000000502'),
  sentryUserId: '502',
  kinds: new Set(['assigned', 'regressed', 'resolved', 'comments']),
  baseUrl: BASE,
  org: 'example-org',
  routeId: asRouteId(9),
};
const recipients = (
  type: string,
  payload: unknown,
  candidates = [bob],
  where: { baseUrl?: string; org?: string } = {},
  card?: { type: string; id: string },
) => {
  const subject = dmSubjectOf(type, payload, card);
  return subject ? dmRecipients({ payload, baseUrl: where.baseUrl ?? BASE, org: where.org ?? 'example-org' }, subject, candidates) : [];
};

describe('who gets a direct message', () => {
  it('the new assignee of an assignment, by Sentry user id, when they asked for assignments', () => {
    expect(recipients('issue.assigned', assignedTo('502'))).toEqual([bob]);
    expect(recipients('issue.assigned', assignedTo('503'))).toEqual([]);
    expect(recipients('issue.assigned', assignedTo('502'), [{ ...bob, kinds: new Set(['comments']) }])).toEqual([]);
  });

  it('nobody for their own change: Sentry names the user who made it as the actor', () => {
    expect(recipients('issue.assigned', assignedTo('502', { type: 'user', id: 502, name: 'Bob' }))).toEqual([]);
    expect(recipients('issue.assigned', assignedTo('502', { type: 'user', id: 501, name: 'Alice' }))).toEqual([bob]);
  });

  it('a team gets none; another Sentry or another organization of it gets none', () => {
    const team = { ...assignedTo('502'), data: { ...created.data, assignee: { type: 'team', id: 502, name: 'Backend' } } };
    expect(recipients('issue.assigned', team)).toEqual([]);
    expect(recipients('issue.assigned', assignedTo('502'), [bob], { baseUrl: 'https://sentry.example.com' })).toEqual([]);
    expect(recipients('issue.assigned', assignedTo('502'), [bob], { org: 'another-org' })).toEqual([]);
  });

  it('a regression or escalation of an issue assigned to them, not one merely marked ongoing; a resolution by someone else', () => {
    const theirs = { assignedTo: { type: 'user', id: '502', name: 'Bob' } };
    expect(dmKindOf('issue.unresolved', issue('unresolved', { ...theirs, substatus: 'regressed' }))).toBe('regressed');
    expect(dmKindOf('issue.unresolved', issue('unresolved', { ...theirs, substatus: 'escalating' }))).toBe('regressed');
    expect(dmKindOf('issue.unresolved', issue('unresolved', { ...theirs, substatus: 'ongoing' }))).toBeUndefined();
    expect(recipients('issue.unresolved', issue('unresolved', { ...theirs, substatus: 'regressed' }))).toEqual([bob]);
    expect(recipients('issue.resolved', issue('resolved', theirs, { type: 'user', id: 501 }))).toEqual([bob]);
    expect(recipients('issue.resolved', issue('resolved', theirs, { type: 'user', id: 502 }))).toEqual([]);
    expect(recipients('issue.created', issue('created', theirs))).toEqual([]);
  });

  it("a comment on an issue the card says is theirs (a comment's payload does not say whose the issue is)", () => {
    const comment = { action: 'created', actor: { type: 'user', id: 501, name: 'Alice' }, data: { comment: 'hi', issue_id: 1 } };
    expect(recipients('comment.created', comment, [bob], {}, { type: 'user', id: '502' })).toEqual([bob]);
    expect(recipients('comment.created', comment, [bob], {}, { type: 'user', id: '503' })).toEqual([]);
    expect(recipients('comment.created', comment, [bob])).toEqual([]);
  });

  it("one Sentry change names one DM, whichever integration's copy tells of it; another change, or another person, another", () => {
    const alice = { type: 'user', id: '501', name: 'Alice' };
    const copy = (uuid: string, count: string, changes: Payload = {}, by: Payload = alice) => {
      const event = assignedTo('502', by);
      return { ...event, installation: { uuid }, data: { ...event.data, issue: { ...event.data.issue, count, ...changes } } };
    };
    const key = (payload: Payload, who = bob) =>
      dmOnceKey(who, { type: 'issue.assigned', payload, cardKey: 'issue:1' }, dmSubjectOf('issue.assigned', payload)!);
    // Each integration's copy: its own installation, and a count that moved between the two sends.
    expect(key(copy('installation-a', '10'))).toBe(key(copy('installation-b', '11')));
    expect(key(copy('installation-a', '10'))).not.toBe(key(copy('installation-a', '10', { status: 'resolved' })));
    expect(key(copy('installation-a', '10'))).not.toBe(key(copy('installation-a', '10', {}, { type: 'user', id: '503' })));
    expect(key(copy('installation-a', '10'))).not.toBe(
      key(copy('installation-a', '10'), { ...bob, userId: asUserId('100000000000000999') }),
    );
  });

  it("the key a DM's send claims, recomputed from its copy's body and the member's link: one for two servers' copies, another for another person", () => {
    const alice = { type: 'user', id: '501', name: 'Alice' };
    const body = (uuid: string, count: string) => {
      const event = assignedTo('502', alice);
      return JSON.stringify({ ...event, installation: { uuid }, data: { ...event.data, issue: { ...event.data.issue, count } } });
    };
    const link = { userId: bob.userId, sentryBaseUrl: BASE, sentryOrg: 'example-org', sentryUserId: '502' };
    const job = (text: string, cardKey: CardKey | null = asCardKey('issue:1')) => ({ eventType: 'issue.assigned', body: text, cardKey });
    // Two servers' links of one person (the same Discord user, Sentry and Sentry user): one key.
    expect(dmSentKey(job(body('installation-a', '10')), link)).toBe(dmSentKey(job(body('installation-b', '11')), link));
    expect(dmSentKey(job(body('installation-a', '10')), link)).toMatch(/^[0-9a-f]{64}$/);
    expect(dmSentKey(job(body('installation-a', '10')), link)).not.toBe(
      dmSentKey(job(body('installation-a', '10')), { ...link, userId: asUserId('100000000000000999') }),
    );
    expect(dmSentKey(job(body('installation-a', '10')), link)).not.toBe(
      dmSentKey(job(body('installation-a', '10'), asCardKey('issue:2')), link),
    );
    // A body that names no DM: nothing to claim.
    expect(dmSentKey(job('not json'), link)).toBeUndefined();
    expect(dmSentKey({ eventType: 'issue.created', body: body('installation-a', '10'), cardKey: null }, link)).toBeUndefined();
  });

  it('kinds are stored in one order and unknown words are dropped', () => {
    expect(storedDmKinds(parseDmKinds('comments, assigned,bogus'))).toBe('assigned,comments');
    expect(storedDmKinds(parseDmKinds(''))).toBe('');
  });
});

describe('a direct message', () => {
  it('shows what happened, who did it, and a link to the card; payload text is escaped and never pings', () => {
    const payload = {
      ...assignedTo('502', { type: 'user', id: 501, name: '@everyone **Alice**' }),
    };
    payload.data.issue.title = '<@&123> [click](https://evil.example) @here';
    const embed = directMessageEmbed({
      type: 'issue.assigned',
      payload,
      sourceName: 'web',
      card: {
        state: { key: 'issue:1', kind: 'issue', lastUpdate: { text: '', at: 0 }, history: [] },
        url: 'https://discord.com/channels/1/2/3',
      },
    });
    expect(embed.description).toContain('📌 **Assigned to you** by @\u200beveryone \\*\\*Alice\\*\\*');
    expect(embed.description).toContain('[Its card in the server](https://discord.com/channels/1/2/3)');
    expect(embed.title).toBe('\\<@&123\\> \\[click\\]\\(https://evil.example\\) @\u200bhere');
    expect(embed.footer?.text).toContain('web');
  });

  it('a comment in full (escaped), from the card when the payload names no issue', () => {
    const embed = directMessageEmbed({
      type: 'comment.created',
      payload: { action: 'created', actor: { type: 'user', id: 501, name: 'Alice' }, data: { comment: '# heading\n> quote' } },
      sourceName: 'web',
      card: {
        state: { key: 'issue:1', kind: 'issue', title: 'The cache', shortId: 'WEB-1', lastUpdate: { text: '', at: 0 }, history: [] },
        url: 'https://discord.com/channels/1/2/3',
      },
    });
    expect(embed.title).toBe('The cache');
    expect(embed.description).toContain('💬 **Alice commented**:\n\\# heading\n\\> quote');
  });
});

describe("Archive's choices", () => {
  it("send Sentry's own substatus and statusDetails names (its issue update's validators)", () => {
    const substatuses = new Set(['archived_until_escalating', 'archived_until_condition_met', 'archived_forever']);
    const details = new Set(['ignoreDuration', 'ignoreCount', 'ignoreWindow', 'ignoreUserCount', 'ignoreUserWindow']);
    for (const kind of ARCHIVE_CHOICES) {
      const change = TRIAGE_ACTIONS[kind].change;
      expect(change.status).toBe('ignored');
      expect(substatuses.has(change.substatus)).toBe(true);
      for (const key of Object.keys(change.statusDetails)) expect(details.has(key)).toBe(true);
    }
  });

  it('say on the card for how long and until when, or until how many more events', () => {
    const until = '2026-03-01T14:05:00Z';
    const tag = Math.floor(Date.parse(until) / 1000);
    const met = { status: 'ignored', substatus: 'archived_until_condition_met' };
    expect(archiveConditionText({ ...met, archive: { minutes: 1440, until } })).toBe(`for 24 h, until <t:${tag}:t>`);
    expect(archiveConditionText({ ...met, archive: { minutes: 10080, until } })).toBe(`for 7 d, until <t:${tag}:f>`);
    expect(archiveConditionText({ ...met, archive: { until } })).toBe(`until <t:${tag}:f>`);
    expect(archiveConditionText({ ...met, archive: { count: 1000, window: 60 } })).toBe('until 1,000 more events within 1 h');
    expect(archiveConditionText({ status: 'ignored', substatus: 'archived_forever', archive: { count: 10 } })).toBeUndefined();
    expect([30, 60, 1440, 2880].map(durationWords)).toEqual(['30 min', '1 h', '24 h', '2 d']);
  });

  it("keep how long was asked while Sentry's answers name the same end, and forget the condition once not archived", () => {
    const prev = { status: 'ignored', substatus: 'archived_until_condition_met', archive: { minutes: 60, until: 'A' } } as CardState;
    expect(keptArchive(prev, { status: 'ignored', substatus: 'archived_until_condition_met', archive: { until: 'A' } })).toEqual({
      archive: { until: 'A', minutes: 60 },
      clear: false,
    });
    expect(keptArchive(prev, { status: 'ignored', substatus: 'archived_until_condition_met', archive: { until: 'B' } })).toEqual({
      archive: { until: 'B' },
      clear: false,
    });
    expect(keptArchive(prev, { status: 'unresolved', substatus: 'ongoing' })).toEqual({ clear: true });
    expect(keptArchive(prev, { assignee: 'Bob' })).toEqual({ clear: false });
  });

  it("a change made from Discord for a time shows until when, from Sentry's answer or from when it was asked", () => {
    const at = Date.parse('2026-03-01T13:05:00Z');
    const triage = (issue: Payload) => ({ action: 'triage', data: { triage: { kind: 'archive-1h', by: 'alice' }, issue } });
    const { state, line } = applyEvent(undefined, { type: 'dispatch.triage', payload: triage({ status: 'ignored' }), key: 'issue:1', at });
    expect(state.archive).toEqual({ minutes: 60, until: '2026-03-01T14:05:00.000Z' });
    expect(line).toBe('✅ Archived for 1 h by alice from Discord');
    const answered = applyEvent(undefined, {
      type: 'dispatch.triage',
      payload: triage({ status: 'ignored', statusDetails: { ignoreUntil: '2026-03-01T14:06:00Z' } }),
      key: 'issue:1',
      at,
    });
    expect(answered.state.archive).toEqual({ minutes: 60, until: '2026-03-01T14:06:00Z' });
  });
});

describe('an issue named by a member', () => {
  it.each([
    ['4242', { kind: 'id', value: '4242' }],
    ['backend-4f', { kind: 'short', value: 'BACKEND-4F' }],
    ['MY-APP-WEB-1Z', { kind: 'short', value: 'MY-APP-WEB-1Z' }],
    ['https://example-org.sentry.io/issues/4242/', { kind: 'id', value: '4242', org: 'example-org', baseUrl: BASE }],
    ['https://example-org.sentry.io/issues/4242/events/abc/?project=1', { kind: 'id', value: '4242', org: 'example-org', baseUrl: BASE }],
    ['https://sentry.io/organizations/example-org/issues/4242/', { kind: 'id', value: '4242', org: 'example-org', baseUrl: BASE }],
    ['https://de.sentry.io/organizations/example-org/issues/4242/', { kind: 'id', value: '4242', org: 'example-org', baseUrl: BASE }],
    [
      'https://sentry.example.com/organizations/acme/issues/BACKEND-4F/',
      { kind: 'short', value: 'BACKEND-4F', org: 'acme', baseUrl: 'https://sentry.example.com' },
    ],
  ])('%s', (typed, ref) => {
    expect(parseIssueRef(typed)).toEqual(ref);
  });

  it.each([
    '',
    'not an issue',
    'javascript:alert(1)',
    'https://example.com/',
    'https://sentry.io/organizations/x/projects/',
    '1'.repeat(21),
  ])('refuses %j', (typed) => {
    expect(parseIssueRef(typed)).toBeUndefined();
  });

  it("finds a message's first Sentry issue link, in angle brackets or an embed's link", () => {
    expect(firstIssueLink(['see <https://example-org.sentry.io/issues/7/> and https://example-org.sentry.io/issues/8/'])?.value).toBe('7');
    expect(firstIssueLink(['no link', undefined, 'https://example-org.sentry.io/issues/9/'])?.value).toBe('9');
    expect(firstIssueLink(['https://example.com/issues/9/ is not Sentry’s?'])?.baseUrl).toBe('https://example.com');
    expect(firstIssueLink(['nothing here'])).toBeUndefined();
  });

  it('sentry.io and its region hosts are one Sentry; another host is another', () => {
    expect(sameSentry('https://sentry.io', 'https://us.sentry.io')).toBe(true);
    expect(sameSentry('https://sentry.io', 'https://sentry.example.com')).toBe(false);
  });
});
