import { describe, expect, it } from 'vitest';
import { cardEmbed, pointerContent, threadLines, threadName } from '../../src/cards/embed.js';
import { applyEvent, cardKeyOf, isResolved, type CardState } from '../../src/cards/state.js';
import { needsBump } from '../../src/delivery/policy.js';
import { EMBED_LIMITS, embedLength } from '../../src/embed/limits.js';
import { everyStringHostile, markdownParts, markupLeaks } from '../support/hostile.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture } from '../support/sentry.js';

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const issue = (action: string, changes: Payload = {}) => ({
  ...created,
  action,
  data: { ...created.data, issue: { ...created.data.issue, ...changes } },
});

/** Folds events into a card, as the card lane does. */
function fold(events: [string, unknown][], key = 'issue:1'): { state: CardState; attention: boolean[]; lines: string[] } {
  let state: CardState | undefined;
  const attention: boolean[] = [];
  const lines: string[] = [];
  events.forEach(([type, payload], i) => {
    const change = applyEvent(state, { type, payload, key, at: 1_000_000 + i });
    state = change.state;
    attention.push(change.attention);
    lines.push(change.line);
  });
  return { state: state!, attention, lines };
}

describe('a card state', () => {
  it('keeps what the payloads say and clears what an issue payload sends as null', () => {
    const { state } = fold([
      ['issue.created', issue('created')],
      ['issue.assigned', issue('assigned', { assignedTo: { type: 'team', name: 'backend' } })],
      ['issue.unassigned', issue('unassigned', { assignedTo: null, substatus: null })],
    ]);
    expect(state.assignee).toBeUndefined();
    expect(state.substatus).toBeUndefined();
    expect(state.priority).toBe('high');
    expect(state.title).toContain('Error generated');
  });

  it('marks regressions, escalations and alerts firing again as needing eyes, and nothing else', () => {
    const alert = loadFixture('event_alert.triggered.json');
    const activity = loadFixture('activity_alert.triggered.json') as Payload;
    const { attention, lines } = fold([
      ['issue.created', issue('created')],
      ['event_alert.triggered', alert],
      ['issue.resolved', issue('resolved', { status: 'resolved' })],
      ['event_alert.triggered', alert],
      ['issue.unresolved', issue('unresolved', { status: 'unresolved', substatus: 'regressed' })],
      ['activity_alert.triggered', { ...activity, data: { ...activity.data, activity: { type: 'set_escalating' } } }],
      ['comment.created', loadFixture('comment.created.json')],
    ]);
    expect(attention).toEqual([false, false, false, true, true, true, false]);
    expect(lines[4]).toBe('Unresolved again (regressed)');
  });

  it('follows a metric alert incident, and an incident firing again after it calmed needs eyes', () => {
    const mock = (action: string) => loadFixture(`example-app-mocks/metric_alert.${action}.json`);
    const { state, attention } = fold(
      [
        ['metric_alert.critical', mock('critical')],
        ['metric_alert.warning', mock('warning')],
        ['metric_alert.critical', mock('critical')],
        ['metric_alert.resolved', mock('resolved')],
      ],
      'incident:789',
    );
    expect(attention).toEqual([false, false, true, false]);
    expect(state).toMatchObject({ kind: 'incident', incident: { status: 'resolved' } });
    expect(isResolved(state)).toBe(true);
    expect(cardKeyOf({ incidentId: '789' })).toBe('incident:789');
    expect(cardKeyOf({ issueId: '5', incidentId: '789' })).toBe('issue:5');
    expect(cardKeyOf({})).toBeUndefined();
  });

  it('counts Seer stages and keeps its pull request links', () => {
    const { state } = fold([
      ['issue.created', issue('created')],
      ['seer.root_cause_completed', loadFixture('seer.root_cause_completed.json')],
      ['seer.pr_created', loadFixture('seer.pr_created.json')],
    ]);
    expect(state.seer).toMatchObject({ stage: 7, of: 7 });
    expect(state.seer!.prs).toEqual([{ label: 'my-app#123', url: 'https://github.com/owner/repo/pull/123' }]);
    // The root cause found at stage 2 stays on the card after the pull request.
    expect(state.seer!.rootCause).toMatch(/^A `TypeError` is thrown in `sendWelcomeEmail`/);
    expect(isResolved(state)).toBe(false);
  });

  it('is pure: the same card and event give the same result (what makes resending an edit safe)', () => {
    const first = fold([['issue.created', issue('created')]]).state;
    const a = applyEvent(first, { type: 'issue.resolved', payload: issue('resolved', { status: 'resolved' }), key: 'issue:1', at: 5 });
    const b = applyEvent(first, { type: 'issue.resolved', payload: issue('resolved', { status: 'resolved' }), key: 'issue:1', at: 5 });
    expect(a).toEqual(b);
    expect(first.status).toBe('unresolved'); // the earlier state is not changed
  });
});

describe('a card as drawn', () => {
  const hostile = '@everyone <@&1> **bold** [phish](https://evil.example) # heading';
  /** Where the hostile text is in what Discord would show, it is there escaped, never raw. */
  const assertEscaped = (text: string) => {
    expect(text).not.toContain('[phish](https://evil.example)');
    expect(text).not.toContain('**bold**');
    expect(text).not.toContain('<@&1>');
    expect(text).not.toMatch(/@everyone/);
  };

  it('escapes payload text in every part of the card that shows it', () => {
    const { state } = fold([
      ['issue.created', issue('created', { title: hostile, culprit: hostile, shortId: hostile })],
      ['comment.created', { ...loadFixture('comment.created.json'), data: { comment: hostile }, actor: { name: hostile } }],
    ]);
    for (const history of [true, false]) {
      const embed = cardEmbed(state, { history, threadLink: '123' });
      // The hostile text is shown (cut to nothing would prove nothing)…
      expect(JSON.stringify(embed.fields)).toContain('phish');
      expect(embed.title).toContain('phish');
      // …and where it is markdown (title, fields, description, history), escaped.
      assertEscaped(embed.title!);
      for (const field of embed.fields ?? []) assertEscaped(field.value);
      // The culprit is a code span, where Discord renders nothing; the rest of the description is escaped.
      expect(embed.description).toMatch(/^`[^`]*phish[^`]*`\n/);
      assertEscaped(embed.description!.replace(/^`[^`]*`/, ''));
      expect(JSON.stringify(embed.fields)).toContain('@\u200beveryone');
    }
    assertEscaped(pointerContent(state, 'https://discord.com/channels/1/2/3'));
    assertEscaped(threadLines([{ text: hostile, at: 0 }]));
    expect(threadLines([{ text: hostile, at: 0 }])).toContain('\\[phish\\]');
  });

  it('shows every string of every real payload as text: the card, its thread line and its pointer, first or after a created issue', () => {
    const first = applyEvent(undefined, { type: 'issue.created', payload: created, key: 'issue:1', at: 1 }).state;
    for (const file of envelopeFixtures()) {
      const { type } = eventTypeOfFixture(file);
      for (const prev of [undefined, first]) {
        const change = applyEvent(prev, { type, payload: everyStringHostile(loadFixture(file)), key: 'issue:1', at: 2 });
        const shown = [
          ...[true, false].flatMap((history) => markdownParts({ embeds: [cardEmbed(change.state, { history, threadLink: '1' })] })),
          threadLines([{ text: change.line, at: 0 }]),
          pointerContent(change.state, 'https://discord.com/channels/1/2/3'),
        ];
        expect(shown.flatMap(markupLeaks), type).toEqual([]);
      }
    }
  });

  it('stays within every Discord limit, however long the payload text', () => {
    const long = hostile + ' ' + 'x'.repeat(5000);
    const { state } = fold([
      ['issue.created', issue('created', { title: long, culprit: long, shortId: long })],
      ['comment.created', { ...loadFixture('comment.created.json'), data: { comment: long } }],
    ]);
    for (const history of [true, false]) {
      const embed = cardEmbed(state, { history, threadLink: '123' });
      expect(embedLength(embed)).toBeLessThanOrEqual(EMBED_LIMITS.total);
      expect(embed.title!.length).toBeLessThanOrEqual(256);
      for (const field of embed.fields ?? []) assertEscaped(field.value);
    }
    expect(threadName(state).length).toBeLessThanOrEqual(100);
    expect(pointerContent(state, 'https://discord.com/channels/1/2/3').length).toBeLessThanOrEqual(2000);
    expect(threadLines(Array.from({ length: 100 }, () => ({ text: long, at: 0 }))).length).toBeLessThanOrEqual(2000);
  });

  it('is green once resolved, gray when archived', () => {
    expect(cardEmbed(fold([['issue.resolved', issue('resolved', { status: 'resolved' })]]).state, { history: false }).color).toBe(0x2ecc71);
    expect(cardEmbed(fold([['issue.ignored', issue('ignored', { status: 'ignored' })]]).state, { history: false }).color).toBe(0x95a5a6);
  });
});

describe('moving a card down', () => {
  const visible = (answer: boolean) => {
    let asked = 0;
    return { ask: async () => (asked++, answer), asked: () => asked };
  };

  it('only for events that need eyes, when the card is old or out of sight; Discord is asked only when it must be', async () => {
    const seen = visible(true);
    expect(await needsBump({ attention: false, postedAt: 0, now: 10_000_000, bumpAfterMs: 1000, visible: seen.ask })).toBe(false);
    expect(await needsBump({ attention: true, postedAt: 0, now: 10_000_000, bumpAfterMs: 1000, visible: seen.ask })).toBe(true);
    expect(seen.asked()).toBe(0);
    expect(await needsBump({ attention: true, postedAt: 0, now: 500, bumpAfterMs: 1000, visible: seen.ask })).toBe(false);
    const hidden = visible(false);
    expect(await needsBump({ attention: true, postedAt: 0, now: 500, bumpAfterMs: 1000, visible: hidden.ask })).toBe(true);
    expect(seen.asked() + hidden.asked()).toBe(2);
  });
});
