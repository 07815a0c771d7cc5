import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTemplate } from '../../src/db/templates.js';
import { escapeText } from '../../src/embed/markdown.js';
import { startHarness, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { snowflake, type PostedMessage } from '../support/fake-discord.js';
import { FakeSentry } from '../support/fake-sentry.js';
import { HOSTILE_LINES, HOSTILE_NAME, HOSTILE_TEXT, markdownParts, markupLeaks, plainParts } from '../support/hostile.js';
import { admin, answerOf, bool, chan, componentClick, modalSubmit, shownText, slash, str, type Member } from '../support/interactions.js';
import { loadFixture } from '../support/sentry.js';
import { allDeliveries } from '../support/db.js';

/**
 * Payload text reaches Discord as text on every path, the members' own answers included: the
 * hostile fixtures (masked links, @everyone, role mentions, markdown, zero-width tricks) in an
 * issue's title, short id, culprit and comment, a Sentry member's name and Discord's own refusal,
 * then every reply, menu and digest that shows them. Each path must show the text (or the test
 * could not fail) and must show it escaped once: no live markup, no mention, no visible backslash.
 */

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const comment = loadFixture('comment.created.json') as Payload;
const TOKEN = 'sntrys_hostile-token-0a1b2c3d4e5f';

/** An issue whose every text a stranger wrote. */
const hostileIssue = (id: string, n: number): Payload => ({
  ...created,
  data: {
    ...created.data,
    issue: {
      ...created.data.issue,
      id,
      shortId: `PWN-${n} [Sign in again](https://evil.example/short) @everyone`,
      title: `${HOSTILE_TEXT}\n${HOSTILE_LINES}`,
      culprit: HOSTILE_TEXT,
      web_url: `https://example-org.sentry.io/issues/${id}/`,
    },
  },
});

let h: Harness;
let sentry: FakeSentry;
let source: TestSource;
let alice: Member;
let feedChannel: string;

/** Every problem in the markdown of a message, an edit or an interaction answer, with where it was. */
function leaksIn(where: string, message: { content?: string | null; embeds?: unknown[]; components?: unknown[] } | undefined): string[] {
  const leaks = markdownParts(message).flatMap((part) => markupLeaks(part).map((leak) => `${where}: ${leak}`));
  // Labels and options are drawn as written: the payload's text as it was, no backslash added.
  for (const text of plainParts(message)) if (/\\[[\]()<>*_~|`#@]/.test(text)) leaks.push(`${where}: a backslash shown in "${text}"`);
  return leaks;
}

/** The message an interaction answer shows (a callback's data, an edit's or follow-up's body). */
const shown = (response: { kind: string; body: any }) => (response.kind === 'callback' ? response.body?.data : response.body);

/** An answer shows the payload's text (so the path was exercised) and shows it only as text. */
function expectShownAsText(response: { kind: string; body: any }, words: string): void {
  expect(shownText(response)).toContain(words);
  expect(leaksIn('answer', shown(response))).toEqual([]);
}

beforeAll(async () => {
  sentry = await FakeSentry.start({ token: TOKEN });
  sentry.members.push({
    id: '9',
    email: 'mallory@example.com',
    name: HOSTILE_NAME,
    user: { id: '509', name: HOSTILE_NAME, username: 'mallory', email: 'mallory@example.com' },
  });
  h = await startHarness({ env: { SENTRY_ALLOW_INSECURE_URLS: 'true', SENTRY_ALLOW_PRIVATE_URLS: 'true', CARD_SYNC_EVERY: '0s' } });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = { ...admin(h.guild), username: 'alice' };
  source = await h.addSource({ layout: 'card', name: 'web', secret: null });
  feedChannel = h.guild.channels[1]!.id;
  const opened = await answerOf(h.discord, slash(alice, 'connect', [str('source', 'web')]));
  const connected = await answerOf(h.discord, modalSubmit(alice, opened.body.data.custom_id, { token: TOKEN, url: sentry.url, org: '' }));
  expect(shownText(connected)).toContain('is connected');
  const added = await answerOf(
    h.discord,
    slash(alice, 'add', [str('source', 'web'), str('name', 'feed'), chan('channel', feedChannel), str('layout', 'feed')], 'route'),
  );
  expect(shownText(added)).toContain('Route **feed**');
});
afterAll(async () => {
  await h?.close();
  await sentry?.stop();
});

describe('payload text in replies, menus and digests', () => {
  let shared: PostedMessage;

  it('cards, a message several cards share, the feed and a comment: posted as text', async () => {
    // The first card is held in flight while two more issues arrive: those two share one message.
    let release!: () => void;
    h.discord.inject([{ status: 200, answerAfter: new Promise<void>((r) => (release = r)) }], source.channelId);
    expect((await h.postEvent(source, 'issue', hostileIssue('7001', 1))).status).toBe(202);
    await waitFor(() => h.discord.requests.some((r) => r.path === `/channels/${source.channelId}/messages`), 10_000, 'the first card sent');
    for (const [id, n] of [
      ['7002', 2],
      ['7003', 3],
    ] as const) {
      expect((await h.postEvent(source, 'issue', hostileIssue(id, n))).status).toBe(202);
    }
    const commented = { ...comment, data: { ...comment.data, comment: `${HOSTILE_TEXT}\n${HOSTILE_LINES}`, issue_id: '7001' } };
    expect((await h.postEvent(source, 'comment', commented)).status).toBe(202);
    release();
    await expect
      .poll(async () => (await allDeliveries(h.dispatch.db)).every((d) => d.status === 'delivered'), { timeout: 10_000 })
      .toBe(true);
    const menu = (m: PostedMessage) => m.components.some((row) => row.components.some((c: any) => c.custom_id === 'dispatch:triage-pick'));
    shared = h.discord.messagesIn(source.channelId).find(menu)!;
    expect(shared, 'a message two cards share').toBeDefined();
    // However the feed batched them (events that arrive together share a message): an embed each.
    expect(h.discord.messagesIn(feedChannel).flatMap((m) => m.embeds).length).toBeGreaterThanOrEqual(3);
  });

  it('the menu of a shared message, Assign…, the assignee chosen and Resolve: each answer shows the short id, title and name as text', async () => {
    const option = shared.components[0].components[0].options[0];
    const picked = await answerOf(h.discord, componentClick(alice, shared, 'dispatch:triage-pick', [option.value]));
    expectShownAsText(picked, 'Sign in again');
    expect(shownText(picked)).toContain(escapeText('[Sign in again](https://evil.example/login)'));
    const reply = { id: snowflake(), channel_id: source.channelId, embeds: [], components: shown(picked).components, flags: 64 };
    const button = (label: string) => reply.components.flatMap((r: any) => r.components).find((c: any) => c.label === label).custom_id;

    const asked = await answerOf(h.discord, componentClick(alice, reply, button('Assign…')));
    expectShownAsText(asked, 'PWN-');
    const select = shown(asked).components[0].components[0];
    expect(select.options.map((o: any) => o.label)).toContain(HOSTILE_NAME);
    const menuMessage = { ...reply, id: snowflake(), components: shown(asked).components };
    const chosen = await answerOf(h.discord, componentClick(alice, menuMessage, select.custom_id, ['user:509']));
    expectShownAsText(chosen, 'Mallory');

    const resolved = await answerOf(h.discord, componentClick(alice, reply, button('Resolve')));
    expectShownAsText(resolved, 'PWN-');
  });

  it("Discord's refusal quoted in log, info, list and route list: as text", async () => {
    h.discord.inject([{ status: 400, body: { code: 50006, message: `Cannot send an empty message ${HOSTILE_NAME}` } }], feedChannel);
    expect((await h.postEvent(source, 'issue', hostileIssue('7004', 4))).status).toBe(202);
    await expect.poll(async () => (await allDeliveries(h.dispatch.db)).some((d) => d.status === 'failed'), { timeout: 10_000 }).toBe(true);
    expectShownAsText(await answerOf(h.discord, slash(alice, 'log', [str('source', 'web')])), 'Mallory');
    expectShownAsText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'web')])), 'Mallory');
    for (const answer of [
      await answerOf(h.discord, slash(alice, 'list')),
      await answerOf(h.discord, slash(alice, 'list', [str('source', 'web')], 'route')),
    ]) {
      expect(leaksIn('list', shown(answer))).toEqual([]);
    }
  });

  it('the dry run of the routes and the template preview (built-in embed, a template printing the payload): as text', async () => {
    expectShownAsText(await answerOf(h.discord, slash(alice, 'test', [str('source', 'web')], 'route')), 'Sign in again');
    const builtIn = await answerOf(h.discord, slash(alice, 'preview', [str('source', 'web'), str('event', 'issue.created')], 'template'));
    expectShownAsText(builtIn, 'Sign in again');
    await setTemplate(
      h.dispatch.db,
      {
        sourceId: source.id,
        routeId: source.route.id,
        eventPattern: 'issue.*',
        body: JSON.stringify({
          content: '{{ payload.data.issue.title }}',
          // The URL is payload text too: the warning that leaves it out quotes it.
          embed: {
            title: '{{ payload.data.issue.shortId }}',
            description: '{{ payload.data.issue.culprit }}',
            url: '{{ payload.data.issue.title }}',
          },
        }),
        updatedBy: alice.userId,
      },
      Date.now(),
    );
    const templated = await answerOf(
      h.discord,
      slash(alice, 'preview', [str('source', 'web'), str('event', 'issue.created'), str('route', 'main')], 'template'),
    );
    expectShownAsText(templated, 'Sign in again');
    expect(shownText(templated)).toContain('is not an http');
  });

  it('the digest, shown to the member and posted in the channel: as text', async () => {
    const preview = await answerOf(h.discord, slash(alice, 'digest', [str('source', 'web'), str('route', 'feed')], 'route'));
    expectShownAsText(preview, 'Sign in again');
    const before = h.discord.messagesIn(feedChannel).length;
    await answerOf(h.discord, slash(alice, 'digest', [str('source', 'web'), str('route', 'feed'), bool('post', true)], 'route'));
    await waitFor(() => h.discord.messagesIn(feedChannel).length > before, 10_000, 'the digest posted');
    const posted = h.discord.messagesIn(feedChannel).slice(before);
    expect(posted.map((m) => markdownParts(m).join('\n')).join('\n')).toContain('Sign in again');
    expect(posted.flatMap((m) => leaksIn('digest', m))).toEqual([]);
  });

  it("an environment the route's filter misses by its case, and Discord's refusal of the sample: as text", async () => {
    const error = loadFixture('error.created.json') as Payload;
    // Names Sentry could not use (with `<`, `>`, `@`, spaces) are refused or split when typed; the rest is fair game.
    const environment = 'Prod[Mallory](https://evil.example/env)**bold**||x||';
    expect((await h.postEvent(source, 'error', { ...error, data: { error: { ...error.data.error, environment } } })).status).toBe(202);
    const edited = await answerOf(
      h.discord,
      slash(alice, 'edit', [str('source', 'web'), str('route', 'feed'), str('environments', environment.toLowerCase())], 'route'),
    );
    expectShownAsText(edited, 'Mallory');
    expect(shownText(edited)).toContain('environments match exactly');
    // Once the error event is posted, the sample is the next post in the card route's channel.
    await expect
      .poll(async () => (await allDeliveries(h.dispatch.db)).filter((d) => d.status === 'pending').length, { timeout: 10_000 })
      .toBe(0);
    h.discord.inject([{ status: 403, body: { code: 50013, message: `Missing Permissions ${HOSTILE_NAME}` } }], source.channelId);
    expectShownAsText(await answerOf(h.discord, slash(alice, 'test', [str('source', 'web')])), 'Could not post');
  });

  it('everything that reached Discord — messages, edits, thread lines, answers — shows the payload as text and pings nobody', async () => {
    const leaks = [
      ...h.discord.messages.flatMap((m) => leaksIn(`message in ${m.channel_id}`, m)),
      ...h.discord.edits.flatMap((e) => leaksIn(`edit of ${e.messageId}`, e.body)),
      ...h.discord.interactionResponses.flatMap((r) => leaksIn(`${r.kind} answer`, shown(r))),
    ];
    expect(leaks).toEqual([]);
    for (const message of h.discord.messages) {
      expect(message.allowed_mentions).toMatchObject({ parse: [] });
      expect((message.allowed_mentions as { roles?: string[] }).roles ?? []).toEqual([]);
    }
    for (const response of h.discord.interactionResponses) {
      const message = shown(response);
      if (message?.content) expect(message.allowed_mentions, shownText(response)).toMatchObject({ parse: [] });
    }
  });
});
