import type { APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { COLORS } from '../../src/embed/colors.js';
import { formatEvent } from '../../src/sentry/registry.js';
import { escapeText } from '../../src/embed/markdown.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture } from '../support/sentry.js';

/** For every fixture: the color it must get and facts that must appear in the embed. */
const EXPECTED: Record<string, { color: number; facts: string[] }> = {
  'activity_alert.triggered.json': {
    color: COLORS.orange,
    facts: ["I'm keeping an eye on Seer 👀", 'ERROR-GEN-R', 'Synthetic test error', 'activity_alert.triggered · error-gen'],
  },
  'comment.created.json': { color: COLORS.blue, facts: ['adding a comment', 'colleen', 'issue 100', 'comment.created · sentry'] },
  'error.created.json': {
    color: COLORS.red,
    facts: ['ReferenceError: blooopy is not defined', '`?(runner)`', 'javascript', 'issues/1170820242', 'error.created · front-end'],
  },
  'event_alert.triggered.json': {
    color: COLORS.orange,
    facts: ['Very Important Alert Rule!', 'ReferenceError: heck is not defined', '`?(<anonymous>)`', 'Issue 1117540176'],
  },
  'installation.created.json': { color: COLORS.green, facts: ['Integration installed', 'Meredith Heller', 'webhooks-galore', 'test-org'] },
  'issue.created.json': {
    color: COLORS.red,
    facts: [
      'PYTHON-Y',
      'Error generated with event_id',
      '`test-transaction-0-',
      'fatal',
      'unresolved',
      'high',
      '<t:1762808160:R>',
      'https://example-org.sentry.io/issues/1234567890/',
      'issue.created · python',
    ],
  },
  'metric_alert.resolved.json': {
    color: COLORS.green,
    facts: [
      'Resolved: Too many errors',
      'Too many errors',
      'bar',
      'count()',
      'level:error',
      '10 min',
      '1000 events in the last 10 minutes\nFilter',
    ],
  },
  'preprod_artifact.build_distribution_completed.json': {
    color: COLORS.green,
    facts: ['MyApp 1.0 (1)', 'ANDROID', 'release', 'feature-branch', 'Install'],
  },
  'preprod_artifact.size_analysis_completed.json': {
    color: COLORS.green,
    facts: ['Size analysis: MyApp 1.0 (2)', '28.9 MB', '30.8 MB', 'Watch artifact', 'my-org/my-app#3'],
  },
  'seer.coding_completed.json': { color: COLORS.purple, facts: ['stage 6 of 7', 'owner/repo', '`notifications.js`', '+4 −0', '```diff'] },
  'seer.coding_started.json': { color: COLORS.purple, facts: ['stage 5 of 7', 'Writing the fix', '1170820242'] },
  'seer.pr_created.json': { color: COLORS.green, facts: ['stage 7 of 7', 'https://github.com/owner/repo/pull/123', 'my-app#123'] },
  'seer.root_cause_completed.json': {
    color: COLORS.purple,
    facts: ['stage 2 of 7', 'can return', 'Why it happens', 'is raised at runtime', 'Reproduction', 'owner/repo'],
  },
  'seer.root_cause_started.json': { color: COLORS.purple, facts: ['stage 1 of 7', 'Finding the root cause', '12345'] },
  'seer.solution_completed.json': {
    color: COLORS.purple,
    facts: ['stage 4 of 7', 'Guard against a missing user', 'Add a null check', 'Log the missing user'],
  },
  'seer.solution_started.json': { color: COLORS.purple, facts: ['stage 3 of 7', 'Planning a solution'] },
  'example-app-mocks/comment.created.json': { color: COLORS.blue, facts: ['this is a test comment', 'issue 123', 'ipe'] },
  'example-app-mocks/comment.updated.json': { color: COLORS.blue, facts: ['this is a test comment', 'edited a comment'] },
  'example-app-mocks/comment.deleted.json': { color: COLORS.gray, facts: ['this is a test comment', 'deleted a comment'] },
  'example-app-mocks/event_alert.triggered.json': {
    color: COLORS.orange,
    facts: ['Error #1: This is a test error!', 'SentryCustomError', 'Issue 123'],
  },
  'example-app-mocks/event_alert.triggered.with_alert_rule_action.json': {
    color: COLORS.orange,
    facts: ['issue alert', 'Error #1: This is a test error!'],
  },
  'example-app-mocks/installation.created.json': { color: COLORS.green, facts: ['Integration installed', 'app', 'example'] },
  'example-app-mocks/installation.deleted.json': { color: COLORS.gray, facts: ['Integration uninstalled', 'app', 'example'] },
  'example-app-mocks/issue.assigned.json': { color: COLORS.red, facts: ['IPE-1', 'Assigned to', 'Person', 'SentryCustomError'] },
  'example-app-mocks/issue.created.json': { color: COLORS.red, facts: ['New issue · IPE-1', 'Error #1: This is a test error!'] },
  'example-app-mocks/issue.ignored.json': { color: COLORS.gray, facts: ['Ignored · IPE-1'] },
  'example-app-mocks/issue.resolved.json': { color: COLORS.green, facts: ['Resolved · IPE-1', '"Status","value":"resolved"'] },
  'example-app-mocks/metric_alert.critical.json': {
    color: COLORS.red,
    facts: ['Critical: metric alert', '5 events in the last 10 minutes'],
  },
  'example-app-mocks/metric_alert.critical.with_alert_rule_action.json': { color: COLORS.red, facts: ['Critical'] },
  'example-app-mocks/metric_alert.warning.json': { color: COLORS.orange, facts: ['Warning: metric alert'] },
  'example-app-mocks/metric_alert.warning.with_alert_rule_action.json': { color: COLORS.orange, facts: ['Warning'] },
  'example-app-mocks/metric_alert.resolved.json': { color: COLORS.green, facts: ['Resolved: metric alert'] },
  'legacy-docs/installation.created.json': { color: COLORS.green, facts: ['webhooks-galore', 'test-org', 'Meredith Heller'] },
  'legacy-docs/issue.created.json': { color: COLORS.red, facts: ['FRONT-END-9', 'ReferenceError', '`?(runner)`', 'front-end'] },
  'legacy-docs/seer.coding_completed.json': {
    color: COLORS.purple,
    facts: ['stage 6 of 7', 'my-app', 'fix: Initialize undefined variable', '`seer/fix-this-thing`', '<the diff as a string>'],
  },
  'legacy-docs/seer.pr_created.json': { color: COLORS.green, facts: ['my-app#123', '(github)', 'https://github.com/owner/repo/pull/123'] },
  'legacy-docs/seer.root_cause_completed.json': {
    color: COLORS.purple,
    facts: ["Woah wow there's a bug here.", 'User navigates to the dashboard', '★ Next.js server renders', '`src/app/page.ts`'],
  },
  'legacy-docs/seer.solution_completed.json': {
    color: COLORS.purple,
    facts: ['Definitely need to fix this.', '1. Go fix it', '2. Then go fix this other thing.'],
  },
};

const text = (embed: APIEmbed) => JSON.stringify(embed).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '');

describe('built-in embeds for every fixture', () => {
  it('covers every fixture file', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(envelopeFixtures().sort());
  });

  it.each(envelopeFixtures())('%s', (file) => {
    const { type } = eventTypeOfFixture(file);
    const embed = formatEvent(type, loadFixture(file));
    const expected = EXPECTED[file]!;
    expect(embed.color, 'color').toBe(expected.color);
    for (const fact of expected.facts) expect(text(embed)).toContain(fact);
    expect(embed.footer?.text.startsWith(type)).toBe(true);
  });
});

describe('payload details', () => {
  const issue = loadFixture('example-app-mocks/issue.resolved.json');
  const withData = (patch: Record<string, unknown>) => ({ ...issue, data: { ...(issue.data as object), ...patch } });

  it.each([
    ['now', {}, 'resolved'],
    ['in_next_release', {}, 'resolved in the next release'],
    ['in_release', { inRelease: '2.4.1' }, 'resolved in release 2.4.1'],
    ['in_commit', { inCommit: { id: 'a1b2c3d4e5f60718293a' } }, 'resolved in commit a1b2c3d'],
    ['with_commit', {}, 'resolved by a commit'],
    ['autoresolve', { autoResolved: true }, 'resolved automatically (no new events)'],
  ])('says how an issue was resolved (%s) in its Status, in words', (type, statusDetails, words) => {
    const payload = withData({ resolution_type: type });
    (payload.data as any).issue = { ...(payload.data as any).issue, status: 'resolved', statusDetails };
    // Shown as text: a Status is payload words (Dispatch's own among them), escaped as one.
    expect(formatEvent('issue.resolved', payload).fields?.find((f) => f.name === 'Status')?.value).toBe(escapeText(words));
  });

  it('shows data.assignee on issue.assigned, a team as a team', () => {
    const embed = formatEvent('issue.assigned', withData({ assignee: { type: 'team', name: 'backend', id: '4' } }));
    expect(embed.fields?.find((f) => f.name === 'Assigned to')?.value).toBe('team backend');
  });

  it.each([
    ['warning', COLORS.orange],
    ['info', COLORS.blue],
    ['debug', COLORS.gray],
    ['fatal', COLORS.red],
  ])('colors an issue of level %s', (level, color) => {
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const payload = { ...created, data: { issue: { ...created.data.issue, level } } };
    expect(formatEvent('issue.created', payload).color).toBe(color);
  });

  it('gives archived, unresolved and deleted issues their own label', () => {
    expect(formatEvent('issue.archived', issue).color).toBe(COLORS.gray);
    expect(formatEvent('issue.archived', issue).author?.name).toContain('Archived');
    expect(formatEvent('issue.unresolved', issue).author?.name).toContain('Unresolved again');
    expect(formatEvent('issue.deleted', issue).author?.name).toContain('Deleted');
  });

  it('renders unit-test-data payloads wrapped in an envelope', () => {
    const wrap = (file: string, action: string) => ({ action, data: loadFixture(`unit-test-data/${file}`) });
    expect(text(formatEvent('error.created', wrap('error.created.data.json', 'created')))).toContain('production');
    expect(text(formatEvent('error.created', wrap('error.created.data.json', 'created')))).toContain('backend@1.0.0');
    expect(text(formatEvent('metric_alert.critical', wrap('metric_alert.critical.data.json', 'critical')))).toContain('1 h');
    expect(text(formatEvent('metric_alert.critical', wrap('metric_alert.critical.data.json', 'critical')))).toContain('Threshold');
    expect(text(formatEvent('seer.root_cause_started', wrap('seer.root_cause_started.data.json', 'root_cause_started')))).toContain(
      '123456',
    );
  });

  it('gives an unknown resource or action a generic embed with the type, project and an excerpt', () => {
    const embed = formatEvent('uptime.check_failed', {
      action: 'check_failed',
      data: { monitor: { project: { slug: 'web' }, title: 'Homepage down', url: 'https://x' } },
    });
    expect(embed.title).toBe('uptime.check_failed');
    expect(embed.footer?.text).toBe('uptime.check_failed · web');
    expect(embed.description).toContain('Homepage down');
    expect(embed.description).toContain('monitor.url: https://x');
    const seer = formatEvent('seer.iteration_started', { action: 'iteration_started', data: { run_id: 1, group_id: 2 } });
    expect(seer.title).toContain('iteration started');
  });

  it('drops a timestamp outside the date range instead of throwing (found by the property test)', () => {
    const embed = formatEvent('error.created', { action: 'created', data: { error: { title: 'x', timestamp: 8640000000000001 } } });
    expect(embed.title).toBe('x');
    expect(embed.timestamp).toBeUndefined();
    expect(embed.author?.name).toBe('New error event'); // the error formatter itself, not the generic fallback
  });

  it('keeps payload text from pinging or breaking code spans', () => {
    const created = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    const payload = { ...created, data: { issue: { ...created.data.issue, culprit: 'a`b```c @everyone' } } };
    const embed = formatEvent('issue.created', payload);
    expect(embed.description).toBe('`aˋbˋˋˋc @everyone`');
  });
});
