import { existsSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { shownText } from '../test/support/interactions.js';
import { envelopeFixtures, eventTypeOfFixture, FIXTURES_DIR, serializeLikeSentry } from '../test/support/sentry.js';
import { describeTemplateFailure, renderEvent } from '../src/render/render-event.js';
import type { Loopback } from './loopback.js';
import type { AnnotatedMessage } from './page.js';
import { serverOf, view } from './recording.js';
import type { ChannelView } from './transcript.js';

/**
 * `npm run demo -- --template <file.json>`: one template, set for every event of a feed route, over
 * every fixture (or those named). Beside each message, what the template did with that event, worked out by
 * the renderer Dispatch itself uses (src/render/render-event.ts): drawn with it, with what it
 * dropped, or failed and why, the built-in embed posted instead.
 */
export const TOUR_CHANNEL = 'template-preview';

export interface TemplateTour {
  channel: ChannelView;
  rows: AnnotatedMessage[];
  /** Dispatch's answer when it would not save the template (it does not parse). */
  refused?: string;
}

/** Fixtures named as in test/fixtures/sentry/ (`issue.created.json`), or files of that shape; every fixture when none is named. */
function fixturesFor(events: string[]): { name: string; path: string }[] {
  if (events.length === 0) return envelopeFixtures().map((name) => ({ name, path: join(FIXTURES_DIR, name) }));
  return events.map((event) => {
    const path = [resolve(event), join(FIXTURES_DIR, event), join(FIXTURES_DIR, `${event}.json`)].find((p) => existsSync(p));
    if (!path) throw new Error(`--event ${event}: no such file here or in test/fixtures/sentry/`);
    const inFixtures = relative(FIXTURES_DIR, path);
    return { name: inFixtures.startsWith('..') ? basename(path) : inFixtures, path };
  });
}

function notesFor(eventType: string, body: string, template: string, posted: Record<string, unknown>[]): AnnotatedMessage['notes'] {
  const event = { eventType, receivedAt: Date.now(), body };
  const drawn = renderEvent(event, { eventPattern: '*', body: template });
  if (drawn.templateFailure) {
    return [{ kind: 'error', text: `The ${describeTemplateFailure(drawn.templateFailure)}. The built-in embed was posted instead.` }];
  }
  const builtIn = renderEvent(event).embeds[0];
  const same = (a: { title?: unknown; description?: unknown } | undefined, b: { title?: unknown; description?: unknown } | undefined) =>
    a?.title === b?.title && a?.description === b?.description;
  const notes: AnnotatedMessage['notes'] = drawn.warnings.map((text) => ({ kind: 'warning', text: `Dropped: ${text}` }));
  if (same(posted[0], builtIn) && !same(drawn.embeds[0], builtIn)) {
    notes.unshift({ kind: 'error', text: 'Discord refused the message the template made: the built-in embed was posted instead.' });
  } else notes.unshift({ kind: 'ok', text: 'Drawn with the template.' });
  return notes;
}

export async function playTemplateTour(loop: Loopback, template: string, events: string[]): Promise<TemplateTour> {
  const channel = loop.channel(TOUR_CHANNEL);
  const { slug } = await loop.createSource('templates', TOUR_CHANNEL, 'feed');
  const saved = shownText(await loop.form('template', 'set', [['source', 'templates']], { event: '*', template }));
  const refused = saved.includes('✅') ? undefined : saved.trim();
  const rows: AnnotatedMessage[] = [];
  for (const fixture of fixturesFor(events)) {
    const payload = JSON.parse(readFileSync(fixture.path, 'utf8')) as Record<string, unknown>;
    const { resource, type } = eventTypeOfFixture(fixture.name);
    const before = loop.discord.messagesIn(channel.id).length;
    await loop.webhook(slug, resource, payload);
    const message = await loop.discord.waitForMessage(
      (m) => m.channel_id === channel.id && loop.discord.messagesIn(channel.id).indexOf(m) >= before,
    );
    const notes = refused
      ? [{ kind: 'error' as const, text: 'Not used: Dispatch refused the template (see above).' }]
      : notesFor(type, serializeLikeSentry(payload), template, message.embeds);
    rows.push({ fixture: fixture.name, message: view(message, loop.discord), notes });
  }
  const server = serverOf(loop.discord, loop.guild);
  return {
    channel: { id: channel.id, name: channel.name, guild: server, messages: rows.map((r) => r.message) },
    rows,
    ...(refused ? { refused } : {}),
  };
}
