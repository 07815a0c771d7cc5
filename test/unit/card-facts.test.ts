import type { APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { cardEmbed, threadLines } from '../../src/cards/embed.js';
import { applyEvent, cardKeyOf, type CardState } from '../../src/cards/state.js';
import { threadDetails } from '../../src/delivery/card-plan.js';
import { renderEvent } from '../../src/render/render-event.js';
import { eventFacts } from '../../src/sentry/facts.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture } from '../support/sentry.js';

/**
 * A card must not show less than the feed embed would: every fact the built-in embed of an event
 * shows is on the card (the latest of each kind) or, for a follow-up, in the line or the full
 * embed the card's thread gets. Checked for every fixture, as the first event of a card and as a
 * follow-up, by reading the facts off the feed embed itself, so a fact added to a formatter is
 * checked here without a change to this test.
 */

/** Feed fields a card shows in another form, and why. Everything else must be found as it is. */
const SHOWN_OTHERWISE: Record<string, string> = {
  Issue: "the card is that issue: its title links to it and its key is the issue's id",
  Run: "Seer's run id: an internal id with nothing to act on in Discord",
};
/** The long texts: on the card as their one-liner, in full in the card's thread (the event's own embed). */
const FULL_TEXT = new Set(['Why it happens', 'Reproduction', 'Steps', 'Diff']);
/** A metric alert's card says the incident's state by the webhook's action (critical, warning, resolved). */
const METRIC_STATUS = 'Status';

/** Markdown off: escapes, links (label and address), code, emphasis, quotes and list numbers. */
function plain(text: string): string {
  return text
    .replace(/\[((?:\\.|[^\]])*)\]\(([^)]*)\)/g, '$1 $2')
    .replace(/\\(.)/g, '$1')
    .replace(/```\w*\n?/g, '')
    .replace(/[`*~]/g, '')
    .replace(/^> /gm, '')
    .replace(/^\d+\. (★ )?/gm, '')
    .replace(/\u200b/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/** Labels of what happened, which the card says in its own words in its latest-update line. */
const EVENT_LABELS =
  /^(new issue|assigned|ignored|resolved|archived|unresolved again|deleted|new error event|seer autofix|issue alert triggered|activity alert|integration (un)?installed)$/i;
/** The card of an issue is named by its id until a payload names its title. */
const IDENTITY = /^(comment on )?issue \d+$/i;

/** The facts a feed embed shows: its title's parts, its description's lines, its fields' lines (field name → lines). */
function factsOf(embed: APIEmbed, resource: string): { where: string; fact: string }[] {
  const out: { where: string; fact: string }[] = [];
  const add = (where: string, text: string | undefined) => {
    for (const line of (text ?? '').split('\n')) {
      const fact = plain(line);
      if (fact && !/^[▰▱]+$/.test(fact)) out.push({ where, fact });
    }
  };
  for (const part of (embed.title ?? '').split(/ · |: /)) if (!IDENTITY.test(part)) add('title', part);
  for (const part of (embed.author?.name ?? '').split(' · ')) {
    const rule = /^Alert: (.*)$/.exec(part)?.[1];
    const actor = /^(.*) (commented|edited a comment|deleted a comment)$/.exec(part)?.[1];
    if (rule || actor) add('author', rule ?? actor);
    else if (!EVENT_LABELS.test(part)) add('author', part);
  }
  add('description', embed.description);
  for (const f of embed.fields ?? []) {
    if (f.name in SHOWN_OTHERWISE || FULL_TEXT.has(f.name)) continue;
    if (resource === 'metric_alert' && f.name === METRIC_STATUS) continue;
    add(`field ${f.name}`, f.value);
  }
  return out;
}

/** Everything a card and its thread show, as plain text. */
function shown(embeds: APIEmbed[], lines: string[] = []): string {
  const parts = embeds.flatMap((e) => [
    e.title,
    e.author?.name,
    e.description,
    e.footer?.text,
    ...(e.fields ?? []).flatMap((f) => [f.name, f.value]),
  ]);
  return [...parts, ...lines]
    .filter(Boolean)
    .map((t) => plain(t!))
    .join('\n');
}

/** Long texts are cut on a card: their start must be there. */
const found = (haystack: string, fact: string) => haystack.includes(fact.length > 60 ? fact.slice(0, 60) : fact);

const cardFixtures = envelopeFixtures().filter((f) => {
  const { type } = eventTypeOfFixture(f);
  return cardKeyOf(eventFacts(type, loadFixture(f))) !== undefined;
});

function feedOf(type: string, payload: unknown): APIEmbed {
  const rendered = renderEvent({ eventType: type, body: JSON.stringify(payload), receivedAt: 0 });
  expect(rendered.drawing, `${type}: the built-in embed`).toBe(1);
  return rendered.embeds[0]!;
}

/** The event a follow-up comes after: the issue (or incident) it is about, already on a card. */
function firstOf(key: string): { type: string; payload: unknown } {
  return key.startsWith('incident:')
    ? { type: 'metric_alert.critical', payload: loadFixture('example-app-mocks/metric_alert.critical.json') }
    : { type: 'issue.created', payload: loadFixture('issue.created.json') };
}

describe('a card carries what the feed embed carries', () => {
  it('covers every event type that has fixtures and makes a card', () => {
    const types = new Set(cardFixtures.map((f) => eventTypeOfFixture(f).resource));
    expect([...types].sort()).toEqual(['activity_alert', 'comment', 'error', 'event_alert', 'issue', 'metric_alert', 'seer']);
  });

  it.each(cardFixtures)('%s as the first event of a card', (fixture) => {
    const { type, resource } = eventTypeOfFixture(fixture);
    const payload = loadFixture(fixture);
    const key = cardKeyOf(eventFacts(type, payload))!;
    const { state } = applyEvent(undefined, { type, payload, key, at: 1_000 });
    // A new card has no thread yet: everything must be on the card itself.
    const text = shown([cardEmbed(state, { history: false })]);
    const missing = factsOf(feedOf(type, payload), resource).filter(({ fact }) => !found(text, fact));
    expect(missing, `card:\n${text}`).toEqual([]);
  });

  it.each(cardFixtures)('%s as a follow-up: on the card, its thread line or the full embed in the thread', (fixture) => {
    const { type, resource } = eventTypeOfFixture(fixture);
    const payload = loadFixture(fixture);
    const key = cardKeyOf(eventFacts(type, payload))!;
    const first = firstOf(key);
    const before: CardState = applyEvent(undefined, { ...first, key, at: 1_000 }).state;
    const change = applyEvent(before, { type, payload, key, at: 2_000 });
    const job = { eventType: type, body: JSON.stringify(payload), receivedAt: 2_000 };
    const details = threadDetails([job], [change]);
    const card = cardEmbed(change.state, { history: false, threadLink: null });
    const text = shown([card, ...details], [threadLines([{ text: change.line, at: 2_000 }])]);
    const feed = feedOf(type, payload);
    const missing = factsOf(feed, resource).filter(({ fact }) => !found(text, fact));
    expect(missing, `card and thread:\n${text}`).toEqual([]);
    // The long texts are there in full when the card has a thread.
    for (const f of feed.fields ?? []) if (FULL_TEXT.has(f.name)) expect(found(text, plain(f.value))).toBe(true);
  });

  it('the facts reader finds what it should: a card without its Seer root cause misses it and its repository', () => {
    const payload = loadFixture('seer.root_cause_completed.json');
    const { state } = applyEvent(undefined, { type: 'seer.root_cause_completed', payload, key: 'issue:1', at: 0 });
    const stripped = { ...state, seer: { ...state.seer!, rootCause: undefined } };
    const text = shown([cardEmbed(stripped, { history: false })]);
    const missing = factsOf(feedOf('seer.root_cause_completed', payload), 'seer').filter(({ fact }) => !found(text, fact));
    expect(missing.map((m) => m.where)).toEqual(['description', 'field Repository']);
  });
});
