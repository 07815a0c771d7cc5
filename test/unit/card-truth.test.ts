import { describe, expect, it } from 'vitest';
import { cardEmbed } from '../../src/cards/embed.js';
import { ECHO_WINDOW_MS } from '../../src/cards/echo.js';
import { applyEvent, type CardState } from '../../src/cards/state.js';
import { drift, SYNC_EVENT_TYPE } from '../../src/cards/sync.js';
import { statusWords } from '../../src/sentry/issue-status.js';
import { TRIAGE_EVENT_TYPE, type TriagePayload } from '../../src/triage/actions.js';
import { loadFixture } from '../support/sentry.js';

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const KEY = 'issue:1234567890';
/** Sentry's webhook for the issue, as it sends it. */
const webhook = (action: string, issue: Payload = {}, data: Payload = {}): Payload => ({
  ...created,
  action,
  data: { ...created.data, ...data, issue: { ...created.data.issue, ...issue } },
});
/** A change made from Discord, with Sentry's answer to the PUT. */
const triage = (triageInfo: TriagePayload['data']['triage'], answer: Payload = {}): TriagePayload => ({
  action: 'triage',
  data: { triage: triageInfo, issue: answer },
});

/** Folds events into a card; each event's line, or null when it added none. */
function fold(events: [string, unknown, number?][]): { state: CardState; lines: (string | null)[] } {
  let state: CardState | undefined;
  const lines: (string | null)[] = [];
  events.forEach(([type, payload, at], i) => {
    const change = applyEvent(state, { type, payload, key: KEY, at: at ?? 1_000 + i });
    state = change.state;
    lines.push(change.silent ? null : change.line);
  });
  return { state: state!, lines };
}

const field = (state: CardState, name: string) => cardEmbed(state, { history: false }).fields?.find((f) => f.name === name)?.value;

describe("Sentry's webhook for a change made from Discord", () => {
  it('a user: matched by Sentry id though the webhook gives the id as a number and the name as Sentry shows it', () => {
    const { lines, state } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'assign-to', by: 'alice', actor: 'user:501', assignee: 'Alice (alice)' })],
      ['issue.assigned', webhook('assigned', {}, { assignee: { type: 'user', name: 'Alice Liddell', id: 501, email: 'a@example.com' } })],
    ]);
    expect(lines).toEqual(['New issue', '✅ Assigned to Alice (alice) by alice from Discord', null]);
    expect(state.assigneeId).toEqual({ type: 'user', id: '501' });
    expect(state.echoes).toBeUndefined(); // used up: the next webhook counts again
  });

  it('a team: the menu showed #backend, Sentry sends its display name, and it is still one line', () => {
    const { lines, state } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'assign-to', by: 'alice', actor: 'team:77', assignee: '#backend' })],
      ['issue.assigned', webhook('assigned', {}, { assignee: { type: 'team', name: 'Backend Team', id: 77 } })],
    ]);
    expect(lines).toEqual(['New issue', '✅ Assigned to #backend by alice from Discord', null]);
    expect(field(state, 'Assigned to')).toBe('team Backend Team');
  });

  it('unassign: Sentry sends no webhook, so nothing is waited for; an assignment made in Sentry afterwards is a line', () => {
    const { lines, state } = fold([
      ['issue.created', webhook('created', { assignedTo: { type: 'user', id: '501', name: 'Alice' } })],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'assign-to', by: 'alice' }, { assignedTo: null })],
      ['issue.assigned', webhook('assigned', {}, { assignee: { type: 'user', name: 'Bob', id: 502 } })],
    ]);
    expect(lines).toEqual(['New issue', '✅ Unassigned by alice from Discord', 'Assigned to Bob']);
    expect(state.assigneeId).toEqual({ type: 'user', id: '502' });
  });

  it('resolve in the next release: one line, and the card says how it was resolved', () => {
    const { lines, state } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'resolve-next', by: 'alice' }, { status: 'resolved', statusDetails: { inNextRelease: true } })],
      ['issue.resolved', webhook('resolved', { status: 'resolved', substatus: null }, { resolution_type: 'in_next_release' })],
    ]);
    expect(lines).toEqual(['New issue', '✅ Resolved in the next release by alice from Discord', null]);
    expect(field(state, 'Status')).toBe('resolved in the next release');
  });

  it('archive: matched on status and substatus; unresolve: the same', () => {
    const { lines, state } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'archive', by: 'alice' }, { status: 'ignored', substatus: 'archived_until_escalating' })],
      ['issue.ignored', webhook('ignored', { status: 'ignored', substatus: 'archived_until_escalating' })],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'unresolve', by: 'bob' }, { status: 'unresolved', substatus: 'ongoing' })],
      ['issue.unresolved', webhook('unresolved', { status: 'unresolved', substatus: 'ongoing' })],
    ]);
    expect(lines).toEqual([
      'New issue',
      '✅ Archived until escalating by alice from Discord',
      null,
      '✅ Unresolved by bob from Discord',
      null,
    ]);
    expect(field(state, 'Status')).toBe('unresolved · ongoing');
  });

  it('is a change of its own when it says something else, or comes after the window', () => {
    const { lines } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'archive', by: 'alice' }, { status: 'ignored', substatus: 'archived_until_escalating' })],
      // Archived, then it escalated: Sentry's "unresolved (escalating)" is news.
      ['issue.unresolved', webhook('unresolved', { status: 'unresolved', substatus: 'escalating' })],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'assign-to', by: 'alice', actor: 'user:501', assignee: 'Alice' }), 10_000],
      ['issue.assigned', webhook('assigned', {}, { assignee: { type: 'user', name: 'Alice', id: 501 } }), 10_000 + ECHO_WINDOW_MS + 1],
    ]);
    expect(lines).toEqual([
      'New issue',
      '✅ Archived until escalating by alice from Discord',
      'Unresolved again (escalating)',
      '✅ Assigned to Alice by alice from Discord',
      'Assigned to Alice',
    ]);
  });

  it('two clicks in a row: each webhook matches its own change, in either order', () => {
    const { lines } = fold([
      ['issue.created', webhook('created')],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'resolve', by: 'alice' }, { status: 'resolved' })],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'assign-to', by: 'alice', actor: 'team:77', assignee: '#backend' })],
      ['issue.assigned', webhook('assigned', {}, { assignee: { type: 'team', name: 'Backend', id: 77 } })],
      ['issue.resolved', webhook('resolved', { status: 'resolved' }, { resolution_type: 'now' })],
    ]);
    expect(lines.filter((l) => l !== null)).toHaveLength(3);
  });

  it("a change Sentry did not confirm: the card says what was asked, changes nothing else, and Sentry's webhook for it is the change's own", () => {
    const asked = fold([
      ['issue.created', webhook('created')],
      ['issue.resolved', webhook('resolved', { status: 'resolved', substatus: null })],
      [TRIAGE_EVENT_TYPE, triage({ kind: 'unresolve', by: 'alice', unconfirmed: true })],
    ]);
    expect(asked.lines.at(-1)).toBe('⏳ Unresolve asked by alice from Discord; Sentry has not confirmed it');
    expect(field(asked.state, 'Status')).toBe('resolved');
    const echo = applyEvent(asked.state, {
      type: 'issue.unresolved',
      payload: webhook('unresolved', { status: 'unresolved', substatus: 'ongoing' }),
      key: KEY,
      at: 5_000,
    });
    // No line, and not a regression that needs eyes (no move down, no ping).
    expect({ silent: echo.silent, attention: echo.attention, status: field(echo.state, 'Status') }).toEqual({
      silent: true,
      attention: false,
      status: 'unresolved · ongoing',
    });
  });

  it('a card stored before echoes were kept by identity still recognizes a status echo', () => {
    const legacy = { ...fold([['issue.created', webhook('created')]]).state, echo: { status: 'resolved', at: 1_000 } };
    const change = applyEvent(legacy as CardState, {
      type: 'issue.resolved',
      payload: webhook('resolved', { status: 'resolved' }),
      key: KEY,
      at: 2_000,
    });
    expect(change.silent).toBe(true);
    expect('echo' in change.state).toBe(false);
  });
});

describe('status in words', () => {
  it.each([
    [['resolved', undefined, undefined], 'resolved'],
    [['resolved', undefined, 'Now'], 'resolved'], // a card from before: Sentry's type humanized
    [['resolved', undefined, 'In next release'], 'resolved in next release'],
    [['resolved', undefined, 'in commit a1b2c3d'], 'resolved in commit a1b2c3d'],
    [['ignored', 'archived_until_escalating', undefined], 'archived until escalating'],
    [['ignored', 'archived_forever', undefined], 'archived forever'],
    [['unresolved', 'regressed', undefined], 'unresolved · regressed'],
  ] as const)('%j → %s', ([status, substatus, resolution], words) => {
    expect(statusWords(status, substatus, resolution)).toBe(words);
  });

  it('a card resolved by a webhook says how, never "resolved · now"', () => {
    const now = fold([['issue.resolved', webhook('resolved', { status: 'resolved' }, { resolution_type: 'now' })]]);
    expect(field(now.state, 'Status')).toBe('resolved');
    expect(now.lines).toEqual(['Resolved']);
    const commit = fold([
      [
        'issue.resolved',
        webhook(
          'resolved',
          { status: 'resolved', statusDetails: { inCommit: { id: 'deadbeefcafe1234' } } },
          { resolution_type: 'in_commit' },
        ),
      ],
    ]);
    expect(field(commit.state, 'Status')).toBe('resolved in commit deadbee');
    expect(commit.lines).toEqual(['Resolved in commit deadbee']);
  });
});

describe("a read-back from Sentry's API", () => {
  const card = () => fold([['issue.created', webhook('created', { assignedTo: { type: 'user', id: '501', name: 'Alice' } })]]).state;

  it('finds what differs: status, substatus, assignee by id, an unassignment', () => {
    expect(
      drift(card(), { id: '1', status: 'unresolved', substatus: 'new', assignedTo: { type: 'user', id: '501', name: 'Alice L.' } }),
    ).toEqual([]);
    expect(drift(card(), { status: 'resolved', statusDetails: { inRelease: '2.0.1' } })).toEqual(['resolved in release 2.0.1']);
    expect(drift(card(), { status: 'unresolved', substatus: 'escalating' })).toEqual(['unresolved · escalating']);
    expect(drift(card(), { assignedTo: { type: 'team', id: '77', name: 'backend' } })).toEqual(['assigned to team backend']);
    expect(drift(card(), { assignedTo: null })).toEqual(['unassigned']);
  });

  it('edits the card with one line when it differs, and adds none when a webhook set it right meanwhile', () => {
    const sync = (issue: Payload) => ({ action: 'sync', data: { issue, reason: 'reconcile' } });
    const { lines, state } = fold([
      ['issue.created', webhook('created')],
      [SYNC_EVENT_TYPE, sync({ id: '1', status: 'resolved', statusDetails: { inNextRelease: true }, assignedTo: null })],
      [SYNC_EVENT_TYPE, sync({ id: '1', status: 'resolved', statusDetails: { inNextRelease: true }, assignedTo: null })],
    ]);
    expect(lines).toEqual(['New issue', 'Synced from Sentry: resolved in the next release', null]);
    expect(field(state, 'Status')).toBe('resolved in the next release');
  });

  it('is dropped, with no line, when the card learned where the issue stands after the read began; applied when before', () => {
    const readAt = (issue: Payload, at: number) => ({ action: 'sync', data: { issue, reason: 'reconcile', readAt: at } });
    const unresolved = { id: '1', status: 'unresolved', substatus: 'new', assignedTo: { type: 'user', id: '501', name: 'Alice' } };
    const { lines, state } = fold([
      ['issue.created', webhook('created'), 1_000],
      // Read at 1 500; the webhook received at 2 000 is newer than the answer delivered after it.
      ['issue.resolved', webhook('resolved', { status: 'resolved', substatus: null }), 2_000],
      [SYNC_EVENT_TYPE, readAt(unresolved, 1_500), 2_100],
      // A comment says nothing of where the issue stands: a read begun before it still counts.
      ['comment.created', { action: 'created', data: { comment: 'hi', issue_id: '1' }, actor: { name: 'bob' } }, 3_000],
      [SYNC_EVENT_TYPE, readAt(unresolved, 2_500), 3_100],
    ]);
    expect(lines).toEqual(['New issue', 'Resolved', null, 'bob commented: hi', 'Synced from Sentry: unresolved · new, assigned to Alice']);
    expect(field(state, 'Status')).toBe('unresolved · new');
    // The answer counts as of its read: a second answer read before it is older still.
    expect(
      applyEvent(state, { type: SYNC_EVENT_TYPE, payload: readAt({ ...unresolved, status: 'resolved' }, 2_400), key: KEY, at: 3_200 })
        .silent,
    ).toBe(true);
  });
});
