import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { admin, componentClick, interact, shownText } from '../test/support/interactions.js';
import { loadFixture } from '../test/support/sentry.js';
import { SENTRY_TOKEN, until, type Loopback } from './loopback.js';
import { record, view, type Recording } from './recording.js';
import { BURST_ERRORS, burstIssueOf } from './burst.js';
import { people } from './story-people.js';
import { answerView, carries, fieldOf } from './story-views.js';

/**
 * The story `npm run demo` plays, from the repo's Sentry fixtures (test/fixtures/sentry/): a
 * source `backend` with a card route in #sentry and a feed route in #sentry-feed, connected to
 * Sentry's API; one issue's life (created → assigned → comment → alert ×2 → Seer's root cause →
 * resolved), a metric alert (critical → resolved), a burst of new issues while #sentry-feed is
 * slow (a flood summary there, batched cards in #sentry), a template on the feed route, and the
 * feed route's digest asked for with `/dispatch route digest post:true`.
 * Fixtures about another issue are pointed at the story's issue, and their dates are moved to the
 * last few minutes, so that the page reads like a channel today.
 */

type Payload = Record<string, any>;

/** Sources and channels of the story. */
export const STORY = { source: 'backend', cards: 'sentry', feed: 'sentry-feed' } as const;

/** The settings it runs with: a flood after 8 waiting events a second old (250 and 30 s by default), so a short burst shows one. */
export const STORY_ENV = { FLOOD_THRESHOLD: '8', FLOOD_AFTER: '1s', BATCH_LINGER: '300ms', CARD_SYNC_EVERY: '0s' };

const BURST = BURST_ERRORS.length;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The payload with every date moved by the same amount, so that its latest is `ageMs` ago. */
export function freshDates(payload: Payload, ageMs: number, now = Date.now()): Payload {
  const dates: number[] = [];
  const walk = (value: unknown, visit: (date: string) => string): unknown => {
    if (typeof value === 'string') return ISO_DATE.test(value) ? visit(value) : value;
    if (Array.isArray(value)) return value.map((item) => walk(item, visit));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, visit)]));
    return value;
  };
  walk(payload, (date) => (dates.push(Date.parse(date)), date));
  if (dates.length === 0) return payload;
  const shift = now - ageMs - Math.max(...dates);
  return walk(payload, (date) => new Date(Date.parse(date) + shift).toISOString()) as Payload;
}

const created = loadFixture('issue.created.json') as Payload;
const ISSUE = created.data.issue as Payload;
const assignedTo = (loadFixture('example-app-mocks/issue.assigned.json') as Payload).data.issue.assignedTo;

/** An `issue.*` webhook about the story's issue: the created fixture with the action and what changed. */
const issueEvent = (action: string, changes: Payload = {}): Payload =>
  freshDates({ ...created, action, data: { ...created.data, issue: { ...ISSUE, ...changes } } }, 3 * 60_000);

function comment(): Payload {
  const fixture = loadFixture('comment.created.json') as Payload;
  return { ...fixture, data: { ...fixture.data, issue_id: ISSUE.id, project_slug: ISSUE.project.slug } };
}

/** The docs' issue alert, about the story's issue: its organization, project, issue id, level and platform. */
function alert(eventId: string, ageMs: number): Payload {
  const fixture = loadFixture('event_alert.triggered.json') as Payload;
  const event = fixture.data.event as Payload;
  const moved = JSON.parse(
    JSON.stringify(event)
      .replaceAll('/test-org/', '/example-org/')
      .replaceAll('/front-end/', `/${ISSUE.project.slug}/`)
      .replaceAll(String(event.issue_id), String(ISSUE.id)),
  ) as Payload;
  const about = { ...moved, issue_id: ISSUE.id, event_id: eventId, level: ISSUE.level, platform: ISSUE.platform ?? moved.platform };
  return freshDates({ ...fixture, data: { ...fixture.data, event: about } }, ageMs);
}

function seerRootCause(): Payload {
  const fixture = loadFixture('seer.root_cause_completed.json') as Payload;
  return { ...fixture, data: { ...fixture.data, group_id: Number(ISSUE.id) } };
}

/** The docs' metric alert incident (their only example is its resolution), as it went critical and as it resolved. */
function metricAlert(action: 'critical' | 'resolved'): Payload {
  const fixture = freshDates(loadFixture('metric_alert.resolved.json') as Payload, 4 * 60_000);
  const incident = fixture.data.metric_alert as Payload;
  const critical = action === 'critical';
  return {
    ...fixture,
    action,
    data: {
      ...fixture.data,
      description_title: critical ? 'Critical: Too many errors' : fixture.data.description_title,
      // Sentry's incident statuses: 20 critical, 2 closed.
      metric_alert: { ...incident, status: critical ? 20 : 2, date_closed: critical ? null : new Date().toISOString() },
    },
  };
}

/** The burst: new issues of the story's project, as a bad release makes them (demo/burst.ts). */
function burstIssue(i: number): Payload {
  return freshDates({ ...created, data: { ...created.data, issue: burstIssueOf(ISSUE, i) } }, 30_000);
}

export const EXAMPLE_TEMPLATE = fileURLToPath(new URL('templates/compact-issue-line.json', import.meta.url));

/** Plays the story against a started loopback, saying each step with `say`; resolves with what Discord holds at the end. */
export async function playStory(loop: Loopback, say: (step: string) => void): Promise<Recording> {
  const { discord } = loop;
  const cards = loop.channel(STORY.cards).id;
  const feed = loop.channel(STORY.feed).id;
  const panels: Recording['panels'] = [];
  const asked = (id: string, caption: string, answer: { kind: string; body: any }) =>
    panels.push({ id, caption, messages: [answerView(answer)] });

  // Set-up, as an admin types it.
  const { slug } = await loop.createSource(STORY.source, STORY.cards, 'card');
  say(
    `/dispatch source create name:${STORY.source} channel:#${STORY.cards} → a webhook URL; the Client Secret set with /dispatch source secret`,
  );
  const route = await loop.command('route', 'add', [
    ['source', STORY.source],
    ['name', 'feed'],
    ['channel', STORY.feed],
    ['layout', 'feed'],
  ]);
  asked('route-add', `/dispatch route add source:${STORY.source} name:feed channel:#${STORY.feed} layout:feed`, route);
  say(`/dispatch route add source:${STORY.source} name:feed channel:#${STORY.feed} layout:feed → a second route, a message per event`);
  const connected = await loop.form('source', 'connect', [['source', STORY.source]], {
    token: SENTRY_TOKEN,
    url: loop.sentry.url,
    org: '',
  });
  if (!shownText(connected).includes('connected as')) throw new Error(`demo: source connect answered ${shownText(connected)}`);
  say(`/dispatch source connect → connected to the loopback Sentry API: cards get triage buttons`);

  // An issue's life, and a metric alert beside it.
  await loop.webhook(slug, 'issue', issueEvent('created'));
  await loop.webhook(slug, 'metric_alert', metricAlert('critical'));
  const card = await discord.waitForMessage((m) => m.channel_id === cards && carries(m, String(ISSUE.shortId)));
  const now = () => discord.message(card.id);
  say(
    `issue.created ${ISSUE.shortId} and a metric alert going critical → a live card each in #${STORY.cards}, a message each in #${STORY.feed}`,
  );
  // Follow-ups that arrive within the card's second of coalescing: one edit, one thread line each.
  await loop.webhook(slug, 'issue', issueEvent('assigned', { assignedTo }));
  await loop.webhook(slug, 'comment', comment());
  await loop.webhook(slug, 'event_alert', alert('a1'.repeat(16), 2 * 60_000));
  await loop.webhook(slug, 'event_alert', alert('b2'.repeat(16), 60_000));
  await loop.webhook(slug, 'seer', seerRootCause());
  await until(() => fieldOf(now(), 'Seer') !== undefined && fieldOf(now(), 'Last comment') !== undefined, 'the card to show Seer');
  await until(() => discord.messagesIn(card.id).length > 0, 'the lines in the card’s thread');
  say(`assigned, a comment, two alerts, Seer's root cause → the card edited in place, a line each in its thread`);

  // A member opens the assign menu (only they see it).
  const assign = now()!
    .components.flatMap((row: { components: { label?: string; custom_id?: string }[] }) => row.components)
    .find((c: { label?: string }) => c.label === 'Assign…');
  if (!assign?.custom_id) throw new Error('demo: the card has no Assign… button');
  const clicked = view(now()!, discord);
  const click = await interact(discord, componentClick(loop.alice, now()!, assign.custom_id));
  const menu = await discord.waitForResponse((r) => r.token === click.token && r.kind === 'edit');
  panels.push({
    id: 'triage',
    caption:
      'alice clicks Assign… on the card: Dispatch asks Sentry for the project’s teams and the organization’s members, and shows her a menu only she sees',
    messages: [clicked, answerView(menu)],
  });
  say(`alice clicks Assign… on the card → a menu of Sentry's members and teams, only she sees`);

  await loop.webhook(slug, 'issue', issueEvent('resolved', { status: 'resolved', substatus: null, assignedTo }));
  await loop.webhook(slug, 'metric_alert', metricAlert('resolved'));
  await until(() => fieldOf(now(), 'Status') === 'resolved', 'the card to be resolved');
  await until(
    () => discord.messagesIn(cards).some((m) => carries(m, 'Too many errors') && m.edits > 0 && /resolved/i.test(JSON.stringify(m.embeds))),
    'the metric alert card to be resolved',
  );
  say(`issue.resolved and the metric alert resolved → both cards turn green`);
  await people(loop, { slug, cards: STORY.cards, issueEvent }, panels, say);

  // A burst while #sentry-feed answers slowly: it waits past FLOOD_AFTER and is summarized there; #sentry batches cards.
  let release = () => {};
  discord.inject([{ status: 200, answerAfter: new Promise<void>((resolve) => (release = resolve)) }], feed);
  const before = discord.messagesIn(feed).length;
  await loop.webhook(slug, 'issue', burstIssue(0));
  await until(() => discord.messagesIn(feed).length > before, 'the burst to reach #sentry-feed');
  // That message is in #sentry-feed, and Discord's answer is slow to come: everything after it waits.
  for (let i = 1; i < BURST; i++) await loop.webhook(slug, 'issue', burstIssue(i));
  await new Promise((r) => setTimeout(r, 1500));
  release();
  await until(() => discord.messagesIn(feed).some((m) => carries(m, 'more issue.created events')), 'a flood summary');
  await until(() => discord.messagesIn(cards).reduce((n, m) => n + m.embeds.length, 0) >= 2 + BURST, 'the burst as cards in #sentry');
  say(`a burst of ${BURST} new issues while #${STORY.feed} is slow → a flood summary there, cards batched in #${STORY.cards}`);

  // A template on the feed route: new issues there get the README's compact line.
  const template = readFileSync(EXAMPLE_TEMPLATE, 'utf8');
  const saved = await loop.form(
    'template',
    'set',
    [
      ['source', STORY.source],
      ['event', 'issue.created'],
      ['route', 'feed'],
    ],
    { event: 'issue.created', template },
  );
  asked(
    'template-set',
    `/dispatch template set source:${STORY.source} event:issue.created route:feed, and the template in its form`,
    saved,
  );
  const templated = loadFixture('legacy-docs/issue.created.json') as Payload;
  await loop.webhook(slug, 'issue', freshDates(templated, 20_000));
  await until(
    () => discord.messagesIn(feed).some((m) => String(m.embeds[0]?.title ?? '').startsWith(`${templated.data.issue.shortId} · `)),
    'the templated message',
  );
  say(`/dispatch template set source:${STORY.source} event:issue.created route:feed → new issues there as one compact line`);
  // The feed route's digest, asked for now and posted in its channel as a scheduled one is.
  await loop.command('route', 'digest', [
    ['source', STORY.source],
    ['route', 'feed'],
    ['post', true],
  ]);
  await until(() => discord.messagesIn(feed).some((m) => carries(m, 'Digest so far')), 'the digest');
  say(`/dispatch route digest source:${STORY.source} route:feed post:true → the feed route's digest`);
  await settled(loop);
  const find = (channel: string, text: string) => discord.messagesIn(channel).find((m) => carries(m, text))?.id ?? '';
  return record(discord, loop.guild, {
    panels,
    highlights: {
      'issue-card': card.id,
      'metric-alert': find(cards, 'Too many errors'),
      'feed-message': find(feed, `New issue · ${ISSUE.shortId}`),
      'flood-summary': find(feed, 'more issue.created events'),
      digest: find(feed, 'Digest so far'),
    },
  });
}

/** Until the loopback Discord has had no request for a moment: every edit and thread line has landed. */
export async function settled(loop: Loopback, quietMs = 700): Promise<void> {
  for (;;) {
    const count = loop.discord.requests.length;
    await new Promise((r) => setTimeout(r, quietMs));
    if (loop.discord.requests.length === count) return;
  }
}
