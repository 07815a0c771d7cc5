import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { snowflake, type PostedMessage } from '../support/fake-discord.js';
import { FakeSentry } from '../support/fake-sentry.js';
import { SentryApi, SentryApiError, type Resolve } from '../../src/sentry-api/client.js';
import {
  admin,
  answeredEphemerally,
  answerOf,
  bool,
  CALLBACK,
  callbackOf,
  componentClick,
  interact,
  messageOf,
  modalSubmit,
  plainMember,
  role,
  shownText,
  slash,
  str,
  type Member,
} from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { allDeliveries, allEvents, deliveriesOfEvent } from '../support/db.js';
import { sql } from 'drizzle-orm';
import { updateRoute } from '../../src/db/routes.js';
import { asRoleId } from '../../src/ids.js';
import { isOwnEvent } from '../../src/own-events.js';

/**
 * Triage from the cards, end to end: real discord.js button and menu interactions against the
 * loopback Discord, and a loopback Sentry API that checks the token and answers like Sentry.
 */

type Payload = Record<string, any>;
const created = loadFixture('issue.created.json') as Payload;
const ISSUE_ID = String(created.data.issue.id);
const issueEvent = (action: string, changes: Payload = {}): Payload => ({
  ...created,
  action,
  data: { ...created.data, issue: { ...created.data.issue, ...changes } },
});

const TOKEN = 'sntrys_triage-token-9f8e7d6c5b4a';
const KEY = 'a'.repeat(64);
const triagers = { id: snowflake(), name: 'triagers' };

let h: Harness;
let sentry: FakeSentry;
let source: TestSource;
let alice: Member;
let card: PostedMessage;

const field = (embed: Payload | undefined, name: string) =>
  (embed?.fields as { name: string; value: string }[] | undefined)?.find((f) => f.name === name)?.value;
const current = () => h.discord.message(card.id)!;
const labels = (message: { components: any[] }) =>
  message.components.flatMap((row) => row.components.map((c: any) => c.label ?? c.placeholder));
const buttonId = (message: { components: any[] }, label: string) =>
  message.components.flatMap((row) => row.components).find((c: any) => c.label === label)?.custom_id as string;
const threadLines = (cardId = card.id) =>
  h.discord
    .messagesIn(cardId)
    .flatMap((m) => (m.content ?? '').split('\n'))
    .map((l) => l.replace(/^<t:\d+:t> /, '').replace(/\\(.)/g, '$1'));

/** Posts a webhook to the card's source; resolves with the event's id. */
async function postWebhook(payload: Payload): Promise<string> {
  const response = await h.postEvent(source, 'issue', payload);
  expect(response.status).toBe(202);
  return ((await response.json()) as { event_id: string }).event_id;
}

/** Resolves once the worker has carried out (and recorded) everything an event meant for the card. */
async function handled(eventId: string): Promise<void> {
  await expect
    .poll(async () => (await deliveriesOfEvent(h.dispatch.db, eventId)).map((d) => d.status), { timeout: 5000 })
    .toEqual(['delivered']);
}

/** Clicks a button of the card as `member`; resolves with the bot's first answer to the click. */
function click(
  member: Member,
  label: string,
  message: { id: string; channel_id: string; components: any[]; embeds: unknown[]; flags?: number } = current(),
) {
  const id = buttonId(message, label);
  expect(id, `a "${label}" button`).toBeDefined();
  return interact(h.discord, componentClick(member, message, id));
}

/**
 * Archive…, then a choice in the menu it opens (to the clicker only); resolves with the bot's first
 * answer to the choice. `archive` (until escalating) is what the Archive button did before it was a choice.
 */
async function archiveWith(member: Member, choice = 'archive') {
  const opened = await click(member, 'Archive…');
  const menu = await h.discord.waitForResponse((r) => r.token === opened.token && r.kind === 'edit');
  const select = menu.body.components[0].components[0];
  const ephemeral = { id: snowflake(), channel_id: source.channelId, components: menu.body.components, embeds: [], flags: 64 };
  return interact(h.discord, componentClick(member, ephemeral, select.custom_id, [choice]));
}

/** What the clicker is told after the click was acknowledged: a follow-up, or the edit of their own message. */
function answerTo(first: { token: string }) {
  return h.discord.waitForResponse((r) => r.token === first.token && r.kind !== 'callback');
}

async function connect(member: Member, values: { token: string; url: string; org?: string }) {
  const opened = await interact(h.discord, slash(member, 'connect', [str('source', source.name)]));
  expect(opened.body.type).toBe(9); // the form
  expect(JSON.stringify(opened.body)).not.toContain(TOKEN); // never pre-filled
  return answerOf(
    h.discord,
    modalSubmit(member, opened.body.data.custom_id, { token: values.token, url: values.url, org: values.org ?? '' }),
  );
}

beforeAll(async () => {
  sentry = await FakeSentry.start({ token: TOKEN });
  h = await startHarness({
    captureLogs: true,
    env: {
      SENTRY_ALLOW_INSECURE_URLS: 'true',
      SENTRY_ALLOW_PRIVATE_URLS: 'true',
      SENTRY_TIMEOUT: '1s',
      SENTRY_CHECK_AFTER: '300ms',
      DISPATCH_ENCRYPTION_KEY: KEY,
    },
  });
  h.guild.roles = [triagers];
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  source = await h.addSource({ layout: 'card', name: 'web' });
  alice = { ...admin(h.guild), username: 'alice' };
});
afterAll(async () => {
  await h?.close();
  await sentry?.stop();
});

describe('triage from a card', () => {
  it('connect checks the token with one read call, stores it sealed, and info says who it is', async () => {
    const bad = await connect(alice, { token: 'wrong-token', url: sentry.url });
    expect(shownText(bad)).toContain('Sentry refused the token (401)');
    expect(sentry.requests.at(-1)).toMatchObject({ method: 'GET', path: '/api/0/' });

    const good = await connect(alice, { token: TOKEN, url: sentry.url });
    expect(shownText(good)).toContain('connected as Dispatch Triage (event:read, event:write');
    const info = shownText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'web')])));
    expect(info).toContain('connected as Dispatch Triage');
    for (const text of [shownText(bad), shownText(good), info]) expect(text).not.toContain(TOKEN);
  });

  it('a card of a connected source shows the actions that fit its state, and Open in Sentry', async () => {
    await postWebhook(issueEvent('created'));
    card = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    // Recorded once Discord has answered: from then on the card's buttons find it.
    await expect.poll(async () => (await allDeliveries(h.dispatch.db)).every((d) => d.status === 'delivered')).toBe(true);
    expect(labels(card)).toEqual(['Resolve', 'Resolve in next release', 'Archive…', 'Assign…', 'Open in Sentry']);
    expect(card.components.flatMap((r) => r.components).find((c: any) => c.label === 'Open in Sentry').url).toBe(
      created.data.issue.web_url,
    );
    for (const id of card.components
      .flatMap((r) => r.components)
      .map((c: any) => c.custom_id)
      .filter(Boolean)) {
      expect(id.length).toBeLessThanOrEqual(100);
      expect(id).not.toContain(TOKEN);
    }
  });

  it('Resolve: the right call to Sentry, the card resolved at once, one thread line, and Sentry’s webhook adds nothing', async () => {
    const answer = await click(alice, 'Resolve');
    expect(answer.body.type, shownText(answer)).toBe(6); // deferred update: acknowledged at once
    await expect
      .poll(() => sentry.updates().at(-1))
      .toEqual({
        method: 'PUT',
        path: `/api/0/organizations/example-org/issues/${ISSUE_ID}/`,
        query: [],
        authorization: `Bearer ${TOKEN}`,
        body: { status: 'resolved' },
      });
    await expect.poll(() => field(current().embeds[0], 'Status'), { timeout: 5000 }).toBe('resolved');
    expect(labels(current())).toEqual(['Unresolve', 'Assign…', 'Open in Sentry']);
    await expect.poll(() => threadLines(), { timeout: 5000 }).toEqual(['✅ Resolved by alice from Discord']);

    // Sentry's own webhook for the same change arrives afterwards.
    await handled(await postWebhook(issueEvent('resolved', { status: 'resolved', substatus: null })));
    expect(field(current().embeds[0], 'Status')).toBe('resolved');
    expect(threadLines()).toEqual(['✅ Resolved by alice from Discord']);
  });

  it("refuses a member without Manage Server or the route's triage role, naming the role; the role then works", async () => {
    const bob: Member = { ...plainMember(h.guild), username: 'bob' };
    const before = sentry.updates().length;
    const refused = await answerTo(await click(bob, 'Unresolve'));
    expect(refused.kind).toBe('followup'); // never on the card
    expect(shownText(refused)).toContain('Only members with Manage Server can triage');
    await answerOf(
      h.discord,
      slash(alice, 'edit', [str('source', 'web'), str('route', 'main'), role('triage-role', triagers.id)], 'route'),
    );
    const named = await answerTo(await click(bob, 'Unresolve'));
    expect(shownText(named)).toContain(`Only members with <@&${triagers.id}> or Manage Server`);
    expect(sentry.updates()).toHaveLength(before);

    bob.roles = [triagers.id];
    await click(bob, 'Unresolve');
    await expect.poll(() => sentry.updates().at(-1)!.body).toEqual({ status: 'unresolved', substatus: 'ongoing' });
    await expect.poll(() => threadLines().at(-1), { timeout: 5000 }).toBe('✅ Unresolved by bob from Discord');
    await expect.poll(() => labels(current()).slice(0, 3)).toEqual(['Resolve', 'Resolve in next release', 'Archive…']);
    await answerOf(
      h.discord,
      slash(alice, 'edit', [str('source', 'web'), str('route', 'main'), bool('remove-triage-role', true)], 'route'),
    );
  });

  it('Assign…: a menu of teams and members with the clicker first; the choice is sent and shown', async () => {
    const menu = await click(alice, 'Assign…');
    expect(menu.body.type).toBe(5); // deferred, to the clicker only
    const reply = await h.discord.waitForResponse((r) => r.token === menu.token && r.kind === 'edit');
    const select = reply.body.components[0].components[0];
    expect(select.options.map((o: any) => o.label)).toEqual(['Alice (you)', '#backend', 'Bob', 'Nobody (unassign)']);
    const ephemeralMessage = { id: snowflake(), channel_id: source.channelId, components: reply.body.components, embeds: [], flags: 64 };
    await interact(h.discord, componentClick(alice, ephemeralMessage, select.custom_id, ['user:501']));
    await expect.poll(() => sentry.updates().at(-1)!.body).toEqual({ assignedTo: 'user:501' });
    await expect.poll(() => field(current().embeds[0], 'Assigned to'), { timeout: 5000 }).toBe('Alice');
    await expect.poll(() => threadLines().at(-1), { timeout: 5000 }).toBe('✅ Assigned to Alice by alice from Discord');
    // Sentry's issue.assigned webhook for it adds no line.
    const lines = threadLines().length;
    await handled(await postWebhook(issueEvent('assigned', { assignedTo: { type: 'user', id: '501', name: 'Alice' } })));
    expect(threadLines()).toHaveLength(lines);
  });

  const ISSUE_PATH = `/api/0/organizations/example-org/issues/${ISSUE_ID}/`;
  const readsOfIssue = () => sentry.requests.filter((r) => r.method === 'GET' && r.path === ISSUE_PATH).length;

  it.each([
    [{ status: 403 }, 'lacks the `event:write` scope', false],
    [{ status: 404 }, 'Sentry does not know this issue any more (404)', false],
    [{ status: 429, headers: { 'retry-after': '1' } }, 'try again in 1 s', false],
    [{ status: 503 }, '⏳ Sentry failed to answer (503); the change was most likely not made', true],
    [
      { status: 200, delayMs: 2500 },
      '⏳ Sentry did not answer in time; the change may still apply — the card will follow what Sentry does',
      true,
    ],
    [{ status: 302, headers: { location: 'http://169.254.169.254/' } }, 'does not follow', false],
    [{ status: 401 }, 'Sentry refused the token (401)', false],
  ])('Sentry answering %j: the clicker is told "%s", the issue stays as it was on the card', async (injected, words, readBack) => {
    const before = JSON.stringify(current().embeds);
    const edits = h.discord.editsOf(card.id).length;
    const changes = (await allEvents(h.dispatch.db)).filter((e) => isOwnEvent(e.eventType)).length;
    const reads = readsOfIssue();
    sentry.inject(injected);
    const answer = await archiveWith(alice);
    // The clicker's own menu (only they see it) becomes the answer.
    const told = await answerTo(answer);
    expect(told.kind).toBe('edit');
    expect(shownText(told)).toContain(words);
    expect(shownText(told)).not.toContain('secret-looking body');
    const stored = async () => (await allEvents(h.dispatch.db)).filter((e) => isOwnEvent(e.eventType)).length;
    if (readBack) {
      // Sentry did not say what became of the change: the card says what was asked (and waits for
      // Sentry's webhook for it), the issue is read back, and (Sentry not having made it) nothing follows.
      await expect.poll(readsOfIssue, { timeout: 5000 }).toBe(reads + 1);
      expect(await stored()).toBe(changes + 1);
      await expect
        .poll(() => threadLines().at(-1), { timeout: 5000 })
        .toBe('⏳ Archive until escalating asked by alice from Discord; Sentry has not confirmed it');
      expect(field(current().embeds[0], 'Status')).toBe(field(JSON.parse(before)[0], 'Status'));
    } else {
      // Nothing was stored for the card to show (a change is an event of its own), so nothing can edit it later.
      expect(await stored()).toBe(changes);
      expect(JSON.stringify(current().embeds)).toBe(before);
      expect(h.discord.editsOf(card.id)).toHaveLength(edits);
    }
    if (injected.status === 429) await new Promise((r) => setTimeout(r, 1000)); // the token's wait, over
  });

  it('a slow change Sentry still makes: the clicker is told it may still apply, and the card follows Sentry once read back', async () => {
    expect(field(current().embeds[0], 'Status')).toBe('unresolved · ongoing');
    sentry.inject({ status: 200, delayMs: 2500, apply: true });
    const answer = await archiveWith(alice);
    // The clicker's own menu becomes the answer.
    const told = await answerTo(answer);
    expect(shownText(told)).toContain('the change may still apply');
    await expect.poll(() => field(current().embeds[0], 'Status'), { timeout: 5000 }).toBe('archived until escalating');
    await expect.poll(() => threadLines().at(-1), { timeout: 5000 }).toBe('Synced from Sentry: archived until escalating');
    expect(labels(current()).slice(0, 2)).toEqual(['Mark ongoing', 'Resolve']);
    // Back as it was, for what follows.
    await click(alice, 'Mark ongoing');
    await expect.poll(() => field(current().embeds[0], 'Status'), { timeout: 5000 }).toBe('unresolved · ongoing');
  });

  it("Sentry's webhook for a member's own Unresolve that Sentry answered too late is not news: no line, no move down, no ping", async () => {
    // An issue of its own, so that no change made earlier from Discord is still expected.
    const LATE_ID = '4242001';
    const late = (action: string, changes: Payload = {}): Payload =>
      issueEvent(action, { id: LATE_ID, shortId: 'LATE-1', title: 'Late answer', ...changes });
    sentry.issues.set(LATE_ID, { status: 'unresolved', substatus: 'new', assignedTo: null });
    await handled(await postWebhook(late('created', { assignedTo: null })));
    const lateCard = () =>
      h.discord
        .messagesIn(source.channelId)
        .filter((m) => JSON.stringify(m.embeds).includes('LATE-1'))
        .at(-1)!;
    const oncall = { id: snowflake(), name: 'oncall', mentionable: true };
    h.guild.roles = [...(h.guild.roles ?? []), oncall];
    // The route pings @oncall for errors and worse (the issue is fatal), and the card is old: what needs eyes moves it down.
    await updateRoute(h.dispatch.db, source.route, { pingRoleId: asRoleId(oncall.id) }, Date.now());
    await h.dispatch.db.run(sql`update cards set posted_at = 0 where message_id = ${lateCard().id}`);
    const pings = () => h.discord.messageRequests().filter((r) => JSON.stringify(r.body).includes(`<@&${oncall.id}>`)).length;
    await click(alice, 'Resolve', lateCard());
    await expect.poll(() => field(lateCard().embeds[0], 'Status'), { timeout: 5000 }).toBe('resolved');
    await handled(await postWebhook(late('resolved', { status: 'resolved', substatus: null, assignedTo: null })));
    const before = { messages: h.discord.messagesIn(source.channelId).length, pings: pings(), lines: threadLines(lateCard().id).length };

    // Unresolve, answered after SENTRY_TIMEOUT; Sentry made the change and sends its webhook.
    sentry.inject({ status: 200, delayMs: 2500, apply: true });
    const answer = await click(alice, 'Unresolve', lateCard());
    const told = await h.discord.waitForResponse((r) => r.token === answer.token && r.kind === 'followup');
    expect(shownText(told)).toContain('the change may still apply');
    await handled(await postWebhook(late('unresolved', { status: 'unresolved', substatus: 'ongoing', assignedTo: null })));
    await new Promise((r) => setTimeout(r, 1500)); // the read-back, SENTRY_CHECK_AFTER later
    await expect.poll(async () => (await allDeliveries(h.dispatch.db)).every((d) => d.status === 'delivered')).toBe(true);

    const lines = threadLines(lateCard().id).slice(before.lines);
    expect({
      status: field(lateCard().embeds[0], 'Status'),
      messages: h.discord.messagesIn(source.channelId).length - before.messages,
      pings: pings() - before.pings,
      news: lines.filter((line) => line.startsWith('Unresolved again')),
    }).toEqual({ status: 'unresolved · ongoing', messages: 0, pings: 0, news: [] });
    // What the thread says instead: what was asked (and, if the read-back came before the webhook, what Sentry had).
    expect(lines[0]).toBe('⏳ Unresolve asked by alice from Discord; Sentry has not confirmed it');
    await updateRoute(h.dispatch.db, source.route, { pingRoleId: null }, Date.now());
  });

  it("Sentry's rate limit (X-Sentry-Rate-Limit-Reset, no Retry-After): the wait is shown, and a click within it waits too, without a request", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 3;
    sentry.inject({
      status: 429,
      body: 'You are attempting to use this endpoint too frequently',
      headers: { 'x-sentry-rate-limit-reset': String(reset), 'x-sentry-rate-limit-remaining': '0', 'x-sentry-rate-limit-limit': '40' },
    });
    const first = await archiveWith(alice);
    const told = await answerTo(first);
    expect(shownText(told)).toMatch(/rate-limiting the token: try again in [1-4] s/);
    const calls = sentry.requests.length;
    const second = await click(alice, 'Resolve');
    const toldAgain = await h.discord.waitForResponse((r) => r.token === second.token && r.kind === 'followup');
    expect(shownText(toldAgain)).toMatch(/rate-limiting the token: try again in [1-4] s/);
    expect(sentry.requests).toHaveLength(calls); // Sentry was not asked again
    // After the reset, the token is used again.
    await new Promise((r) => setTimeout(r, reset * 1000 - Date.now() + 50));
    await archiveWith(alice);
    await expect.poll(() => field(current().embeds[0], 'Status'), { timeout: 5000 }).toBe('archived until escalating');
    await click(alice, 'Mark ongoing');
    await expect.poll(() => field(current().embeds[0], 'Status'), { timeout: 5000 }).toBe('unresolved · ongoing');
  });

  it("Assign… a team: Sentry's webhook names it by its display name and its id as a number, and adds no second line", async () => {
    const menu = await click(alice, 'Assign…');
    const reply = await h.discord.waitForResponse((r) => r.token === menu.token && r.kind === 'edit');
    const select = reply.body.components[0].components[0];
    const ephemeralMessage = { id: snowflake(), channel_id: source.channelId, components: reply.body.components, embeds: [], flags: 64 };
    await interact(h.discord, componentClick(alice, ephemeralMessage, select.custom_id, ['team:77']));
    await expect.poll(() => sentry.updates().at(-1)!.body).toEqual({ assignedTo: 'team:77' });
    await expect.poll(() => threadLines().at(-1), { timeout: 5000 }).toBe('✅ Assigned to #backend by alice from Discord');
    const lines = threadLines().length;
    // What Sentry sends for it: data.assignee with the team's display name and numeric id.
    const echo = issueEvent('assigned', { assignedTo: { type: 'team', id: '77', name: 'backend' } });
    echo.data = { ...echo.data, assignee: { type: 'team', name: 'Backend', id: 77 } };
    await handled(await postWebhook(echo));
    expect(threadLines()).toHaveLength(lines);
    expect(field(current().embeds[0], 'Assigned to')).toBe('team Backend');
  });

  it("the menu of a message several cards share shows the chosen issue's buttons to the chooser only", async () => {
    const shared = {
      id: snowflake(),
      channel_id: source.channelId,
      embeds: [],
      components: [
        {
          type: 1,
          components: [
            { type: 3, custom_id: 'dispatch:triage-pick', options: [{ label: 'PYTHON-Y', value: `${source.route.id}:${ISSUE_ID}` }] },
          ],
        },
      ],
    };
    const pick = componentClick(alice, shared, 'dispatch:triage-pick', [`${source.route.id}:${ISSUE_ID}`]);
    const picked = await answerOf(h.discord, pick);
    expect(callbackOf(h.discord, pick).body.type).toBe(CALLBACK.deferredReply); // the shared message stays as it is
    expect(answeredEphemerally(h.discord, pick)).toBe(true);
    expect(labels(messageOf(picked))).toContain('Assign…');
    const unknown = await answerOf(h.discord, componentClick(alice, shared, 'dispatch:triage-pick', ['999999:1']));
    expect(shownText(unknown)).toContain('no longer managed by Dispatch');
  });

  it('info shows a token Sentry refused; the token is never in a log line, a reply or the database file in clear', async () => {
    const info = shownText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'web')])));
    expect(info).toContain('Sentry refused the token (401)');
    for (const line of h.logLines) expect(line).not.toContain(TOKEN);
    for (const response of h.discord.interactionResponses) expect(JSON.stringify(response.body)).not.toContain(TOKEN);
    for (const message of h.discord.messages) expect(JSON.stringify(message)).not.toContain(TOKEN);
    for (const file of [h.databasePath, `${h.databasePath}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue;
      }
      expect(bytes.includes(TOKEN)).toBe(false);
    }
  });

  it('an empty token disconnects: new cards show Open in Sentry only', async () => {
    const done = await connect(alice, { token: '', url: sentry.url });
    expect(shownText(done)).toContain('no longer connected');
    await postWebhook(issueEvent('created', { id: '4242', shortId: 'PYTHON-Z', web_url: 'https://example-org.sentry.io/issues/4242/' }));
    const plain = await h.discord.waitForMessage((m) => m.channel_id === source.channelId && JSON.stringify(m.embeds).includes('PYTHON-Z'));
    expect(labels(plain)).toEqual(['Open in Sentry']);
  });
});

describe('the Sentry URL an admin may give', () => {
  let strict: Harness;
  let strictSource: TestSource;
  let admin2: Member;
  beforeAll(async () => {
    // Plain http allowed (the loopback Sentry speaks it), private addresses not: what is refused is refused for being private.
    strict = await startHarness({ env: { SENTRY_TIMEOUT: '1s', SENTRY_ALLOW_INSECURE_URLS: 'true' } });
    await waitFor(() => strict.dispatch.client.isReady(), 20_000, 'the gateway');
    strictSource = await strict.addSource({ layout: 'card', name: 'api' });
    admin2 = admin(strict.guild);
  });
  afterAll(async () => {
    await strict?.close();
  });

  async function connectTo(url: string) {
    const opened = await interact(strict.discord, slash(admin2, 'connect', [str('source', strictSource.name)]));
    return shownText(await answerOf(strict.discord, modalSubmit(admin2, opened.body.data.custom_id, { token: TOKEN, url, org: '' })));
  }

  /** The loopback Sentry's own address, under other spellings: a refusal that failed would reach it. */
  const port = () => new URL(sentry.url).port;
  it.each([
    ['its loopback address', () => sentry.url, 'inside a private network'],
    ['its address IPv4-mapped', () => `http://[::ffff:127.0.0.1]:${port()}/`, 'inside a private network'],
    ['its address IPv4-mapped in hex', () => `http://[::ffff:7f00:1]:${port()}/`, 'inside a private network'],
    // A name: refused when it resolves, at connection time.
    ['localhost', () => `http://localhost:${port()}/`, 'inside a private network'],
    ['the metadata address', () => 'https://169.254.169.254/', 'inside a private network'],
    ['its address with credentials', () => sentry.url.replace('http://', 'http://user:pw@'), 'cannot carry a user name'],
  ])('refuses the loopback Sentry by %s unless the operator allows it, and nothing reaches it', async (_label, url, words) => {
    const before = sentry.requests.length;
    expect(await connectTo(url())).toContain(words);
    expect(sentry.requests).toHaveLength(before); // nothing was called with the token
  });

  it('refuses a name that resolves to a public address once and to loopback when connecting (DNS rebinding)', async () => {
    let lookups = 0;
    // The first answer is public (what a check made ahead of the connection would see); every later one is the loopback Sentry.
    const rebinding: Resolve = (_host, _options, callback) =>
      callback(null, [lookups++ === 0 ? { address: '203.0.113.7', family: 4 } : { address: '127.0.0.1', family: 4 }]);
    const api = new SentryApi(
      `http://sentry.rebind.example:${port()}`,
      TOKEN,
      { allowInsecure: true, allowPrivate: false, timeoutMs: 300 },
      rebinding,
    );
    const before = sentry.requests.length;
    for (let i = 0; i < 3; i++) await expect(api.whoami()).rejects.toBeInstanceOf(SentryApiError);
    // Each connection resolves once and is checked on that answer: the loopback answers were refused, never connected to.
    expect(lookups).toBe(3);
    expect(sentry.requests).toHaveLength(before);
    await expect(api.whoami()).rejects.toMatchObject({ problem: { kind: 'refused-url' } });
  });
});

describe('feed routes', () => {
  it('keep an Open in Sentry link and get no action buttons', async () => {
    const feed = await h.addSource({ layout: 'feed', name: 'feed', channelId: h.guild.channels[1]!.id });
    expect((await h.postEvent(feed, 'issue', issueEvent('created', { id: '777', shortId: 'PYTHON-F' }))).status).toBe(202);
    const message = await h.discord.waitForMessage((m) => m.channel_id === feed.channelId);
    expect(labels(message)).toEqual(['Open in Sentry']);
  });
});
