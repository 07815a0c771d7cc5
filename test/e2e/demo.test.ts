import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storyDemo, type StoryDemo } from '../../demo/run.js';
import { EXAMPLE_TEMPLATE } from '../../demo/story.js';
import { BURST_ERRORS } from '../../demo/burst.js';
import { tempDir } from '../support/harness.js';

/**
 * `npm run demo`: the page holds every message, embed, button, menu, card state and thread the
 * story made, counted against what the loopback Discord received, not against a list.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let demo: StoryDemo;
/** What the demo said while it ran: a line per step of its story. */
const steps: string[] = [];
beforeAll(async () => {
  demo = await storyDemo((step) => steps.push(step));
}, 180_000);

/** The block of the page with this id. */
function block(id: string): string {
  const start = demo.html.indexOf(`id="${id}"`);
  const end = demo.html.indexOf(`<!-- end ${id} -->`, start);
  expect(start, `a block with id ${id}`).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  return demo.html.slice(start, end);
}
const count = (html: string, pattern: RegExp) => (html.match(pattern) ?? []).length;
const EMBED = /<discord-embed[\s>]/g;
const BUTTON = /class="discord-button /g;
const MENU = /class="discord-select-menu"/g;
const escaped = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

type Component = { type: number; components?: Component[] };
const components = (messages: { components: Component[] }[], type: number) =>
  messages.flatMap((m) => m.components.flatMap((row) => row.components ?? [])).filter((c) => c.type === type).length;

describe('npm run demo', () => {
  it('draws each channel with every message, embed, button and menu the loopback Discord received', () => {
    const { discord } = demo;
    const channels = demo.recording.channels;
    expect(channels.map((c) => c.name)).toEqual(['sentry', 'sentry-feed']);
    for (const channel of channels) {
      const messages = discord.messagesIn(channel.id);
      expect(messages.length, channel.name).toBeGreaterThan(3);
      const html = block(`channel-${channel.name}`);
      expect(count(html, /<discord-message[\s>]/g), channel.name).toBe(messages.length);
      expect(count(html, EMBED), channel.name).toBe(messages.reduce((n, m) => n + m.embeds.length, 0));
      expect(count(html, BUTTON), channel.name).toBe(components(messages, 2));
      expect(count(html, MENU), channel.name).toBe(components(messages, 3));
    }
    // Every embed's short parts: authors, footers and field names as written, titles as Discord shows their
    // markdown (the backslashes before escaped characters hidden).
    const asShown = (markdown: string | undefined) => markdown?.replace(/\\([!-/:-@[-`{-~])/g, '$1');
    for (const message of discord.messages) {
      for (const embed of message.embeds as {
        title?: string;
        author?: { name: string };
        footer?: { text: string };
        fields?: { name: string }[];
      }[]) {
        for (const text of [asShown(embed.title), embed.author?.name, embed.footer?.text, ...(embed.fields ?? []).map((f) => f.name)]) {
          if (text) expect(demo.html).toContain(escaped(text));
        }
      }
    }
  });

  it('shows the story: a card resolved after its life, a metric alert, a flood summary, Seer, and a template', () => {
    const page = demo.html;
    const sentry = block('channel-sentry');
    expect(sentry).toContain('Resolved: Too many errors');
    expect(sentry).toContain('Root cause');
    expect(block('channel-sentry-feed')).toMatch(/\+\d+ more issue\.created events/);
    expect(block('channel-sentry-feed')).toMatch(/FRONT-END-9 · ReferenceError: blooopy is not defined/); // the template's line
    for (const picture of ['issue-card', 'metric-alert', 'feed-message', 'flood-summary'])
      expect(page).toContain(`data-picture="${picture}"`);
    // Nothing on the page loads anything: no script, no font, picture or stylesheet from elsewhere (links stay links).
    expect(page).not.toMatch(/<script|<link|src="http|url\(['"]?http|@import/);
  });

  it('says each step of its story as it goes, in order', () => {
    const order = [
      'Dispatch started',
      '/dispatch source create',
      '/dispatch route add',
      '/dispatch source connect',
      'issue.created',
      'assigned, a comment',
      'Assign…',
      'issue.resolved',
      '/dispatch me connect',
      'issue.assigned to Bob',
      'Archive…',
      'a burst of',
      '/dispatch template set',
      '/dispatch route digest',
      'drawing the page',
    ];
    expect(steps).toHaveLength(order.length);
    order.forEach((start, i) => expect(steps[i]).toContain(start));
  });

  it('shows a connected member: his DM about the issue given to him, the archive choice only he saw, and the card archived as him', () => {
    const dm = block('panel-dm');
    expect(dm).toContain('Assigned to you');
    expect(dm).toContain('Its card in the server');
    const archive = block('panel-archive');
    for (const choice of ['Until escalating', 'For 24 hours', 'Until 1,000 more events', 'Forever']) expect(archive).toContain(choice);
    // (The page's markup splits text with comments where Discord's markdown could start.)
    expect(demo.html.replace(/<!--.*?-->/g, '')).toContain('Archived for 24 h by bob, as bob@example.com in Sentry');
  });

  it("bursts with distinct issues: each new card has its own title, culprit and link, as a bad release's issues do", () => {
    const { discord } = demo;
    const cards = demo.recording.channels.find((c) => c.name === 'sentry')!;
    const burst = discord
      .messagesIn(cards.id)
      .flatMap((m) => m.embeds as { title?: string; url?: string; description?: string }[])
      .filter((embed) => embed.url?.includes('/issues/70000'));
    expect(burst.length).toBe(BURST_ERRORS.length);
    for (const part of ['title', 'url', 'description'] as const) expect(new Set(burst.map((embed) => embed[part])).size).toBe(burst.length);
  });

  it("draws each card's states side by side, as many as its post and edits", () => {
    const { discord } = demo;
    const edited = discord.messages.filter((m) => m.edits > 0 && !discord.threads.has(m.channel_id));
    expect(edited.length).toBeGreaterThanOrEqual(2); // the card and the metric alert's
    edited.forEach((message, i) => {
      const life = block(`life-${i + 1}`);
      expect(count(life, /<discord-message[\s>]/g)).toBe(1 + discord.editsOf(message.id).length);
      expect(count(life, EMBED)).toBe(message.embeds.length * (1 + discord.editsOf(message.id).length));
    });
    expect(block('life-1')).toContain('Posted · unresolved · new');
    expect(block('life-1')).toMatch(/Edit \d+ · resolved/);
  });

  it('draws every thread with its lines and embeds, and the assign menu only the member saw, opened', () => {
    const { discord } = demo;
    const threads = [...discord.threads.values()];
    expect(threads.length).toBeGreaterThanOrEqual(2);
    threads.forEach((thread, i) => {
      const messages = discord.messagesIn(thread.id);
      const html = block(`thread-${i + 1}`);
      expect(html).toContain(escaped(thread.name));
      expect(count(html, /<discord-message[\s>]/g)).toBe(messages.length);
      expect(count(html, EMBED)).toBe(messages.reduce((n, m) => n + m.embeds.length, 0));
    });
    const triage = block('panel-triage');
    for (const choice of ['Alice (you)', '#backend', 'Bob', 'Nobody (unassign)']) expect(triage).toContain(choice);
  });
});

describe('npm run demo -- --template', () => {
  const out = tempDir('dispatch-demo-template-');
  afterAll(() => out.remove());

  it('draws each event named with what the template did beside it: drawn with it, or failed and why, the built-in embed posted instead', async () => {
    const { stdout } = await promisify(execFile)(
      join(ROOT, 'node_modules/.bin/tsx'),
      [
        'demo/run.ts',
        '--template',
        EXAMPLE_TEMPLATE,
        '--event',
        'issue.created.json',
        '--event',
        'comment.created.json',
        '--out',
        out.path,
      ],
      { cwd: ROOT, timeout: 120_000 },
    );
    const file = join(out.path, 'index.html');
    expect(stdout.trim()).toBe(`Open ${pathToFileURL(file).href}`); // a link to the page, and exit 0
    const html = readFileSync(file, 'utf8');
    const row = (n: number) =>
      html.slice(html.indexOf(`<h2>`, html.indexOf(`id="event-${n - 1}"`)), html.indexOf(`<!-- end event-${n} -->`));
    expect(row(1)).toContain('issue.created.json');
    expect(row(1)).toContain('Drawn with the template.');
    expect(row(1)).toContain('PYTHON-Y · Error generated with event_id');
    expect(row(2)).toContain('comment.created.json');
    expect(row(2)).toContain('failed (missing variable): embed.title: undefined variable: payload.data.issue');
    expect(row(2)).toContain('The built-in embed was posted instead.');
    expect(row(2)).toContain('Comment on issue 100'); // the built-in embed
  }, 120_000);
});
