import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { PERMISSIONS, snowflake, type InjectedResponse, type PostedMessage } from '../support/fake-discord.js';
import { admin, answerOf, chan, shownText, slash, str } from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { updateRoute } from '../../src/db/routes.js';
import { setTemplate } from '../../src/db/templates.js';
import { asRoleId } from '../../src/ids.js';

/**
 * Live cards, end to end: the real Dispatch and discord.js against the loopback Discord, which
 * keeps messages, edits and threads as Discord does and answers their errors.
 */

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const ISSUE = created.data.issue as Payload;
const comment = loadFixture('comment.created.json') as Payload;
const alert = loadFixture('event_alert.triggered.json') as Payload;

/** An `issue.*` webhook about one issue: the created fixture with the action and what changed. */
const issueEvent = (action: string, changes: Payload = {}, id = String(ISSUE.id)): Payload => ({
  ...created,
  action,
  data: { ...created.data, issue: { ...ISSUE, id, shortId: `PYTHON-${id}`, ...changes } },
});
const commentOn = (id: string, text: string): Payload => ({ ...comment, data: { ...comment.data, issue_id: id, comment: text } });
/** An alert firing for the issue; each firing is about a new Sentry event. */
const alertOn = (id: string, eventId: string): Payload => ({
  ...alert,
  data: { ...alert.data, event: { ...alert.data.event, issue_id: id, event_id: eventId } },
});

const ERROR_30046: InjectedResponse = {
  status: 400,
  body: { code: 30046, message: 'Maximum number of edits to messages older than 1 hour reached. Try again later.' },
};

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The bot's messages in a channel (members' chatter left out). */
const botMessages = (harness: Harness, channelId: string): PostedMessage[] =>
  harness.discord.messagesIn(channelId).filter((m) => !m.byMember);

const field = (embed: Payload | undefined, name: string): string | undefined =>
  (embed?.fields as { name: string; value: string }[] | undefined)?.find((f) => f.name === name)?.value;

/** The lines posted in a thread, without their timestamps, in order. */
const threadLines = (harness: Harness, threadId: string): string[] =>
  harness.discord
    .messagesIn(threadId)
    .flatMap((m) => (m.content ?? '').split('\n'))
    .map((line) => line.replace(/^<t:\d+:t> /, '').replace(/\\(.)/g, '$1'));

async function cardHarness(options: { env?: Record<string, string>; clock?: () => number; rateLimit?: boolean } = {}) {
  const harness = await startHarness({
    env: { BATCH_LINGER: '200ms', ...options.env },
    ...(options.clock ? { start: { now: options.clock } } : {}),
    ...(options.rateLimit ? { discord: { channelRateLimit: { messages: 5, windowMs: 5000 } } } : {}),
  });
  const source = await harness.addSource({ layout: 'card' });
  return { harness, source };
}

function poster(harness: Harness, source: TestSource, clock: () => number = Date.now) {
  return async (resource: string, payload: Payload) => {
    const request = sentryRequest(resource, payload, source.signingSecret ?? undefined, Math.floor(clock() / 1000));
    const response = await harness.post(source.slug, request);
    expect(response.status).toBe(202);
  };
}

describe('a live card follows its issue', () => {
  it('created → assigned → comment → alert ×2 → resolved → unresolved: one card edited in place, one thread in order, and a bump on the regression after CARD_BUMP_AFTER', async () => {
    let offset = 0;
    const clock = () => Date.now() + offset;
    const { harness, source } = await cardHarness({ clock, env: { CARD_BUMP_AFTER: '1h' } });
    h = harness;
    const post = poster(harness, source, clock);
    const id = String(ISSUE.id);
    const channel = source.channelId;

    await post('issue', issueEvent('created'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === channel);
    expect(card.embeds).toHaveLength(1);
    // An embed title is markdown: the payload's `_` is escaped.
    expect(card.embeds[0]!.title).toContain('Error generated with event\\_id');
    expect(field(card.embeds[0], 'Status')).toBe('unresolved · new');
    expect(field(card.embeds[0], 'Assigned to')).toBe('nobody');

    // Sentry sends the whole issue each time: after the assignment, every payload names the assignee.
    const assignedTo = { type: 'user', id: '7', name: 'Person', email: 'p@example.com' };
    await post('issue', issueEvent('assigned', { assignedTo }));
    await post('comment', commentOn(id, 'Looks like the cache again'));
    await post('event_alert', alertOn(id, 'a1'.repeat(16)));
    await post('event_alert', alertOn(id, 'b2'.repeat(16)));
    await post('issue', issueEvent('resolved', { status: 'resolved', substatus: null, assignedTo }));

    await expect.poll(() => field(harness.discord.message(card.id)?.embeds[0], 'Status'), { timeout: 10_000 }).toBe('resolved');
    const resolved = harness.discord.message(card.id)!.embeds[0]!;
    expect(resolved.color).toBe(0x2ecc71); // green once resolved
    expect(field(resolved, 'Assigned to')).toBe('Person');
    expect(field(resolved, 'Last alert')).toContain('2 times');
    expect(field(resolved, 'Last comment')).toContain('Looks like the cache again');
    expect(botMessages(harness, channel)).toHaveLength(1); // every change was an edit of the one card
    expect(harness.discord.threads.get(card.id)?.parentId).toBe(channel); // a thread on the card, started by the first follow-up

    // Two hours later the issue regresses: it needs eyes, and the card is older than CARD_BUMP_AFTER.
    offset = 2 * 3_600_000;
    await post('issue', issueEvent('unresolved', { status: 'unresolved', substatus: 'regressed', assignedTo }));
    await expect.poll(() => botMessages(harness, channel).length, { timeout: 10_000 }).toBe(2);
    const moved = botMessages(harness, channel)[1]!;
    expect(field(moved.embeds[0], 'Status')).toBe('unresolved · regressed');
    expect(field(moved.embeds[0], 'Thread')).toBe(`<#${card.id}>`); // the history stays in the one thread
    await expect.poll(() => harness.discord.message(card.id)?.content).toContain(`/${channel}/${moved.id}`);
    expect(harness.discord.message(card.id)!.embeds).toEqual([]); // the old card is a one-line pointer now

    await expect.poll(() => threadLines(harness, card.id).at(-1)).toContain('Unresolved again');
    expect(threadLines(harness, card.id)).toEqual([
      'Assigned to Person',
      'colleen commented: Looks like the cache again',
      'Alert "Very Important Alert Rule!" fired',
      'Alert "Very Important Alert Rule!" fired again (2 times)',
      'Resolved',
      'Unresolved again (regressed)',
    ]);
    // The comment and the repeat alert are there in full, as their own embeds.
    const details = harness.discord.messagesIn(card.id).flatMap((m) => m.embeds);
    expect(JSON.stringify(details)).toContain('Looks like the cache again');
    expect(harness.discord.threads.size).toBe(1);
  });
});

describe('cards in a burst', () => {
  it('100 new issues take at most 12 messages, and a follow-up to one of them edits only its embed', async () => {
    const { harness, source } = await cardHarness({ rateLimit: true, env: { BATCH_LINGER: '500ms' } });
    h = harness;
    const post = poster(harness, source);
    const ids = Array.from({ length: 100 }, (_, i) => String(5000 + i));
    await Promise.all(ids.map((id) => post('issue', issueEvent('created', { title: `TypeError: burst ${id} failed` }, id))));
    const messages = await harness.discord.waitForMessages(100, source.channelId, 60_000);
    expect(messages.length).toBeLessThanOrEqual(12);
    const cardsShown = messages.flatMap((m) => m.embeds.map((e) => /PYTHON-(\d+)/.exec(String((e.author as Payload)?.name))?.[1]));
    expect(cardsShown.sort()).toEqual([...ids].sort()); // each issue once

    // Issue 5057 is resolved: the message it shares is sent again with its embed changed and the rest as they were.
    const shared = messages.find((m) => m.embeds.some((e) => String((e.author as Payload)?.name).includes('PYTHON-5057')))!;
    expect(shared.embeds.length).toBeGreaterThan(1);
    const before = structuredClone(shared.embeds);
    const position = before.findIndex((e) => String((e.author as Payload)?.name).includes('PYTHON-5057'));
    await post('issue', issueEvent('resolved', { status: 'resolved', substatus: null, title: 'TypeError: burst 5057 failed' }, '5057'));
    await expect.poll(() => harness.discord.editsOf(shared.id).length, { timeout: 10_000 }).toBe(1);
    const after = harness.discord.message(shared.id)!.embeds;
    expect(after).toHaveLength(before.length);
    for (const [i, embed] of after.entries()) {
      if (i === position) {
        expect(field(embed, 'Status')).toBe('resolved');
        expect(field(embed, 'History')).toContain('Resolved'); // a shared card shows its follow-ups on itself
      } else expect(embed).toEqual(before[i]);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(harness.discord.messagesIn(source.channelId)).toHaveLength(messages.length); // nothing new posted
    expect(harness.discord.threads.size).toBe(0); // a card in a shared message has no thread
  });
});

describe("Discord's edges", () => {
  /** A card route with one card posted, and what it takes to send follow-ups to it. */
  async function withCard(env: Record<string, string> = {}) {
    const { harness, source } = await cardHarness({ env });
    h = harness;
    await waitFor(() => harness.dispatch.client.isReady(), 20_000, 'the gateway');
    const post = poster(harness, source);
    await post('issue', issueEvent('created'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    let n = 0;
    /** A comment on the issue: an informative follow-up, which edits the card and adds a thread line. */
    const followUp = async () => {
      n += 1;
      await post('comment', commentOn(String(ISSUE.id), `follow-up ${n}`));
      return `colleen commented: follow-up ${n}`;
    };
    return { harness, source, card, followUp };
  }

  it('a deleted card (10008) is posted again, with the current state', async () => {
    const { harness, source, card, followUp } = await withCard();
    harness.discord.deleteMessage(card.id);
    await followUp();
    const again = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId && m.id !== card.id);
    expect(field(again.embeds[0], 'Last comment')).toContain('follow-up 1');
    await expect.poll(() => threadLines(harness, again.id), { timeout: 5000 }).toEqual(['colleen commented: follow-up 1']);
    // The next follow-up edits the new card.
    await followUp();
    await expect
      .poll(() => field(harness.discord.message(again.id)?.embeds[0], 'Last comment'), { timeout: 5000 })
      .toContain('follow-up 2');
    expect(botMessages(harness, source.channelId)).toHaveLength(1);
  });

  it('an archived thread (50083) takes its next line; a locked one gives way to a fresh card and thread', async () => {
    const { harness, source, card, followUp } = await withCard();
    const first = await followUp();
    await expect.poll(() => threadLines(harness, card.id), { timeout: 5000 }).toEqual([first]);

    harness.discord.archiveThread(card.id);
    const second = await followUp();
    await expect.poll(() => threadLines(harness, card.id), { timeout: 5000 }).toEqual([first, second]);
    expect(harness.discord.threads.get(card.id)!.archived).toBe(false);

    harness.discord.archiveThread(card.id, { locked: true });
    const third = await followUp();
    await expect.poll(() => botMessages(harness, source.channelId).length, { timeout: 5000 }).toBe(2);
    const fresh = botMessages(harness, source.channelId)[1]!;
    await expect.poll(() => threadLines(harness, fresh.id), { timeout: 5000 }).toEqual([third]);
    await expect.poll(() => harness.discord.message(card.id)!.content).toContain(`/${source.channelId}/${fresh.id}`);
    expect(threadLines(harness, card.id)).toEqual([first, second]); // the locked thread got nothing more
  });

  it('the edit cap on old messages (30046) posts the card again further down and deletes the old one: the issue shows once', async () => {
    const { harness, source, card, followUp } = await withCard();
    // Discord refuses both the card's edit and the pointer's.
    harness.discord.injectEdits([ERROR_30046, ERROR_30046], card.id);
    await followUp();
    await expect.poll(() => harness.discord.deleted, { timeout: 5000 }).toContain(card.id);
    const shown = botMessages(harness, source.channelId);
    expect(shown).toHaveLength(1);
    expect(field(shown[0]!.embeds[0], 'Last comment')).toContain('follow-up 1');
    // Its history stays in the thread it had, which outlives the message it was started from.
    expect(field(shown[0]!.embeds[0], 'Thread')).toBe(`<#${card.id}>`);
    expect(harness.discord.threads.has(card.id)).toBe(true);
  });

  it('the edit cap, and the old card cannot be deleted either: it stays as it last was, nothing more is added to it', async () => {
    const { harness, source, card, followUp } = await withCard();
    const before = JSON.stringify(harness.discord.message(card.id)!.embeds);
    harness.discord.undeletable.add(card.id);
    harness.discord.injectEdits([ERROR_30046, ERROR_30046], card.id);
    await followUp();
    await expect.poll(() => botMessages(harness, source.channelId).length, { timeout: 5000 }).toBe(2);
    // The delete was tried and refused.
    await expect.poll(() => harness.discord.requests.some((r) => r.method === 'DELETE' && r.path.endsWith(card.id))).toBe(true);
    const shown = botMessages(harness, source.channelId);
    expect(JSON.stringify(harness.discord.message(card.id)!.embeds)).toBe(before);
    expect(field(shown[1]!.embeds[0], 'Last comment')).toContain('follow-up 1');
    expect(harness.discord.deleted).not.toContain(card.id);
  });

  it('without Create Public Threads the history goes on the card, info says why, and threads come back once granted', async () => {
    const { harness, source, card, followUp } = await withCard();
    harness.discord.updateChannel(source.channelId, PERMISSIONS.CreatePublicThreads);
    const line = await followUp();
    await expect.poll(() => field(harness.discord.message(card.id)?.embeds[0], 'History'), { timeout: 5000 }).toContain(line);
    expect(harness.discord.threads.size).toBe(0);
    const alice = admin(harness.guild);
    const info = shownText(await answerOf(harness.discord, slash(alice, 'info', [str('source', source.name)])));
    expect(info).toContain('no threads: the bot lacks Create Public Threads');

    harness.discord.updateChannel(source.channelId, undefined);
    await expect
      .poll(async () => shownText(await answerOf(harness.discord, slash(alice, 'info', [str('source', source.name)]))), { timeout: 5000 })
      .not.toContain('no threads');
    const next = await followUp();
    await expect.poll(() => threadLines(harness, card.id), { timeout: 5000 }).toEqual([next]);
  });

  it('refuses a forum channel at create, saying why', async () => {
    h = await startHarness();
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const forum = { id: snowflake(), name: 'incidents', type: 15 };
    h.discord.addChannel(h.guild.id, forum);
    const alice = admin(h.guild);
    await expect
      .poll(async () => shownText(await answerOf(h!.discord, slash(alice, 'create', [str('name', 'web'), chan('channel', forum.id)]))))
      .toContain('is a forum: Dispatch posts in text or announcement channels');
    const added = shownText(
      await answerOf(h.discord, slash(alice, 'create', [str('name', 'web'), chan('channel', h.channelId), str('layout', 'bogus')])),
    );
    expect(added).toContain('The layout is `card` or `feed`');
  });
});

describe('when a card changes', () => {
  it('several updates within a second become one edit, with one thread message of their lines', async () => {
    let now = Date.now();
    const { harness, source } = await cardHarness({ clock: () => now });
    h = harness;
    const post = poster(harness, source, () => now);
    await post('issue', issueEvent('created'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    for (const text of ['one', 'two', 'three', 'four']) await post('comment', commentOn(String(ISSUE.id), text));
    // The clock stands still: the card was edited less than a second ago, so the updates wait and gather.
    await new Promise((r) => setTimeout(r, 1500));
    expect(harness.discord.editsOf(card.id)).toHaveLength(0);
    now += 1000;
    await expect.poll(() => harness.discord.editsOf(card.id).length, { timeout: 5000 }).toBe(1);
    expect(field(harness.discord.message(card.id)!.embeds[0], 'Last comment')).toContain('four');
    // The thread line is sent after the edit: wait for it rather than racing it.
    await expect.poll(() => harness.discord.messagesIn(card.id).length, { timeout: 5000 }).toBe(1);
    expect(threadLines(harness, card.id)).toEqual(['one', 'two', 'three', 'four'].map((t) => `colleen commented: ${t}`));
  });

  it('a card no longer among the last 20 messages moves down when it needs eyes, and only then', async () => {
    const { harness, source } = await cardHarness();
    h = harness;
    const post = poster(harness, source);
    await post('issue', issueEvent('created'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    harness.discord.postAsMember(source.channelId, 20);

    // Informative: edited where it is, however far up.
    await post('comment', commentOn(String(ISSUE.id), 'looking'));
    await expect.poll(() => harness.discord.editsOf(card.id).length, { timeout: 5000 }).toBe(1);
    expect(botMessages(harness, source.channelId)).toHaveLength(1);

    // A regression needs eyes: the card is posted again below the chatter, and the old one points to it.
    await post('issue', issueEvent('unresolved', { status: 'unresolved', substatus: 'regressed' }));
    await expect.poll(() => botMessages(harness, source.channelId).length, { timeout: 5000 }).toBe(2);
    const moved = botMessages(harness, source.channelId)[1]!;
    expect(field(moved.embeds[0], 'Status')).toBe('unresolved · regressed');
    await expect.poll(() => harness.discord.message(card.id)!.content).toContain(`/${source.channelId}/${moved.id}`);
  });

  it('a metric alert incident is one card: critical → warning → resolved', async () => {
    const { harness, source } = await cardHarness();
    h = harness;
    const post = poster(harness, source);
    const incident = (action: string) => loadFixture(`example-app-mocks/metric_alert.${action}.json`) as Payload;
    await post('metric_alert', incident('critical'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(field(card.embeds[0], 'Status')).toBe('critical');
    await post('metric_alert', incident('warning'));
    await post('metric_alert', incident('resolved'));
    await expect.poll(() => field(harness.discord.message(card.id)?.embeds[0], 'Status'), { timeout: 5000 }).toBe('resolved');
    expect(harness.discord.message(card.id)!.embeds[0]!.color).toBe(0x2ecc71);
    expect(botMessages(harness, source.channelId)).toHaveLength(1);
    await expect.poll(() => threadLines(harness, card.id)).toEqual(['Warning: metric alert', 'Resolved: metric alert']);
  });

  it("a template for an event type replaces the card's embed for that event", async () => {
    const { harness, source } = await cardHarness();
    h = harness;
    await setTemplate(
      harness.dispatch.db,
      {
        sourceId: source.id,
        routeId: null,
        eventPattern: 'issue.resolved',
        body: JSON.stringify({ embed: { title: 'Fixed: {{ payload.data.issue.shortId }}' } }),
        updatedBy: '1',
      },
      Date.now(),
    );
    const post = poster(harness, source);
    await post('issue', issueEvent('created'));
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(card.embeds[0]!.footer).toMatchObject({ text: expect.stringContaining('live card') });
    await post('issue', issueEvent('resolved', { status: 'resolved' }));
    await expect.poll(() => harness.discord.message(card.id)?.embeds[0]?.title, { timeout: 5000 }).toBe(`Fixed: PYTHON-${ISSUE.id}`);
    await expect.poll(() => threadLines(harness, card.id)).toEqual(['Resolved']);
  });

  it("a new card pings the route's role at its level, and so does a card posted again; an edit never does", async () => {
    const { harness, source } = await cardHarness({ env: { CARD_BUMP_AFTER: '1ms' } });
    h = harness;
    const roleId = snowflake();
    await updateRoute(harness.dispatch.db, source.route, { pingRoleId: asRoleId(roleId), pingLevel: 'fatal' }, Date.now());
    const post = poster(harness, source);
    await post('issue', issueEvent('created')); // level fatal
    const card = await harness.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(card.content).toBe(`<@&${roleId}>`);
    expect(card.allowed_mentions).toEqual({ parse: [], roles: [roleId] });
    await post('comment', commentOn(String(ISSUE.id), 'on it'));
    await expect.poll(() => harness.discord.editsOf(card.id).length, { timeout: 5000 }).toBe(1);
    expect(harness.discord.editsOf(card.id)[0]!.body.allowed_mentions).toEqual({ parse: [], roles: [] });
    await post('issue', issueEvent('unresolved', { status: 'unresolved', substatus: 'regressed' }));
    await expect.poll(() => botMessages(harness, source.channelId).length, { timeout: 5000 }).toBe(2);
    expect(botMessages(harness, source.channelId)[1]!.content).toBe(`<@&${roleId}>`);
  });
});
