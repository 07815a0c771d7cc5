import { DiscordAPIError, type APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { applyEvent, type CardChange } from '../../src/cards/state.js';
import type { SentCardMessage } from '../../src/db/cards.js';
import type { Job } from '../../src/db/queue.js';
import type { CardRow, Route } from '../../src/db/schema.js';
import {
  afterItsThread,
  afterThreadStart,
  cannotEditInPlace,
  cardInPlace,
  cardPostedAgain,
  editRecord,
  editStart,
  mustPostAgain,
  pointerFailure,
  pointerMessage,
  repostPing,
  threadMessage,
  threadsAllowed,
  type EditProgress,
} from '../../src/delivery/card-edit-rules.js';
import type { CardUpdatePlan } from '../../src/delivery/card-plan.js';
import { DiscordUnreachable } from '../../src/delivery/discord-codes.js';
import { asBatchId, asCardKey, asChannelId, asMessageId, asRoleId, asRouteId, asSourceId } from '../../src/ids.js';
import { oneLine } from '../../src/embed/markdown.js';
import { loadFixture } from '../support/sentry.js';

const CHANNEL = asChannelId('100');
const MESSAGE = asMessageId('200');
const THREAD = asChannelId('200');
const issueCreated = loadFixture('issue.created.json') as { data: { issue: object } };
const created = applyEvent(undefined, { type: 'issue.created', payload: issueCreated, key: 'issue:1', at: 1_000 });
const resolvedPayload = {
  ...issueCreated,
  action: 'resolved',
  data: { ...issueCreated.data, issue: { ...issueCreated.data.issue, status: 'resolved' } },
};
const resolved = applyEvent(created.state, { type: 'issue.resolved', payload: resolvedPayload, key: 'issue:1', at: 2_000 });
const oncall = { content: '<@&1>', roleIds: [asRoleId('1')] };
const payments = { content: '<@&2>', roleIds: [asRoleId('2')] };

const card = (changes: Partial<CardRow> = {}): CardRow => ({
  id: 1,
  routeId: asRouteId(7),
  cardKey: asCardKey('issue:1'),
  channelId: CHANNEL,
  messageId: MESSAGE,
  position: 0,
  shared: false,
  threadId: null,
  state: JSON.stringify(created.state),
  postedAt: 500,
  lastEditAt: 500,
  updatedAt: 500,
  resolvedAt: null,
  ...changes,
});

const job = (receivedAt: number) => ({ sourceId: asSourceId(3), receivedAt }) as Job;

/** One edit's plan, as card-plan.ts makes it: the resolved issue, one line, nothing to ping. */
const plan = (changes: Partial<CardUpdatePlan> = {}): CardUpdatePlan => ({
  kind: 'card-update',
  channelId: CHANNEL,
  batchId: asBatchId('batch-1'),
  batch: [job(2_000)],
  card: card(),
  route: { id: asRouteId(7), threadProblem: null } as Route,
  state: resolved.state,
  changes: [resolved],
  bump: false,
  details: [],
  connected: true,
  silent: false,
  ...changes,
});

const progress = (changes: Partial<EditProgress> = {}): EditProgress => ({
  threadId: null,
  repost: false,
  linesPosted: false,
  alertPinged: false,
  ...changes,
});

const apiError = (status: number, code: number) =>
  new DiscordAPIError({ code, message: 'x' }, code, status, 'PATCH', '/channels/100/messages/200', { body: undefined, files: undefined });

const fieldNames = (embed: APIEmbed) => (embed.fields ?? []).map((f) => f.name);

describe("a card edit's progress", () => {
  it('starts from the thread the card has, and moves down when the plan says so', () => {
    expect(editStart(plan({ card: card({ threadId: THREAD }), bump: true }))).toEqual(progress({ threadId: THREAD, repost: true }));
    expect(editStart(plan())).toEqual(progress());
  });

  it('lines posted in its thread carried the alert ping; a thread gone moves the card down with a fresh thread', () => {
    const start = progress({ threadId: THREAD });
    expect(afterItsThread(start, 'posted')).toEqual(progress({ threadId: THREAD, linesPosted: true, alertPinged: true }));
    expect(afterItsThread(start, 'gone')).toEqual(progress({ threadId: null, repost: true }));
    expect(afterItsThread(start, 'unavailable')).toEqual(start);
  });

  it('a thread started on the first follow-up is the card’s; a message gone moves the card down', () => {
    expect(afterThreadStart(progress(), THREAD)).toEqual(progress({ threadId: THREAD }));
    expect(afterThreadStart(progress(), null)).toEqual(progress());
    expect(afterThreadStart(progress(), 'message gone')).toEqual(progress({ repost: true }));
  });

  it('threads are for cards of their own, on routes where Discord let the bot make them', () => {
    expect(threadsAllowed(plan())).toBe(true);
    expect(threadsAllowed(plan({ card: card({ shared: true }) }))).toBe(false);
    expect(threadsAllowed(plan({ route: { id: asRouteId(7), threadProblem: 'no permission' } as Route }))).toBe(false);
  });
});

describe('edited in place or posted again', () => {
  const own = cardInPlace(plan(), { embeds: [], content: null, components: [] }, progress({ threadId: THREAD })).embeds;

  it('a card is edited where it is unless it needs to move down', () => {
    expect(mustPostAgain(plan(), progress({ threadId: THREAD }), own)).toBe(false);
    expect(mustPostAgain(plan(), progress({ threadId: THREAD, repost: true }), own)).toBe(true);
  });

  it("an alert's ping with no thread to carry it goes with the card posted again", () => {
    const alerting = plan({ alertPing: payments });
    expect(mustPostAgain(alerting, progress({ threadId: THREAD }), own)).toBe(false);
    expect(mustPostAgain(plan({ alertPing: payments, card: card({ shared: true }) }), progress(), own)).toBe(true);
    const threadsOff = plan({ alertPing: payments, route: { id: asRouteId(7), threadProblem: 'no permission' } as Route });
    expect(mustPostAgain(threadsOff, progress(), own)).toBe(true);
    expect(mustPostAgain(threadsOff, progress({ alertPinged: true }), own)).toBe(false);
  });

  it('a card whose shared message would no longer fit moves to a message of its own', () => {
    const shared = plan({ card: card({ shared: true, position: 1 }) });
    const others = (size: number): SentCardMessage => ({
      embeds: [{ description: 'x'.repeat(size) }, { description: 'old' }, { description: 'y' }],
      content: null,
      components: [],
    });
    expect(mustPostAgain(shared, progress(), cardInPlace(shared, others(100), progress()).embeds)).toBe(false);
    expect(mustPostAgain(shared, progress(), cardInPlace(shared, others(5_900), progress()).embeds)).toBe(true);
  });

  it('Discord refusing the edit because the card was deleted (10008) or edited too often (30046) means posting it again; nothing else does', () => {
    expect(cannotEditInPlace(apiError(404, 10008))).toBe(true);
    expect(cannotEditInPlace(apiError(400, 30046))).toBe(true);
    expect(cannotEditInPlace(apiError(403, 50013))).toBe(false);
    expect(cannotEditInPlace(apiError(503, 0))).toBe(false);
    expect(cannotEditInPlace(new Error('database is locked'))).toBe(false);
  });
});

describe('how the card is drawn', () => {
  it('in place under its own thread: no history on it, no link to the thread it hangs over; its buttons', () => {
    const sent = cardInPlace(plan(), { embeds: [], content: null, components: [] }, progress({ threadId: THREAD }));
    expect(sent.embeds).toHaveLength(1);
    expect(fieldNames(sent.embeds[0]!)).not.toContain('History');
    expect(fieldNames(sent.embeds[0]!)).not.toContain('Thread');
    expect(sent.components.length).toBeGreaterThan(0);
  });

  it('in place without a thread: its history is on the card', () => {
    const sent = cardInPlace(plan(), { embeds: [], content: null, components: [] }, progress());
    expect(fieldNames(sent.embeds[0]!)).toContain('History');
  });

  it('in a shared message: only its slot changes; the message keeps its content and menu', () => {
    const menu = [{ type: 1, components: [] }] as unknown as SentCardMessage['components'];
    const message: SentCardMessage = { embeds: [{ title: 'other' }, { title: 'old' }], content: '<@&1>', components: menu };
    const sent = cardInPlace(plan({ card: card({ shared: true, position: 1 }) }), message, progress());
    expect(sent.embeds[0]).toEqual({ title: 'other' });
    expect(sent.embeds[1]!.title).toBe(oneLine(resolved.state.title)); // a title is markdown: its payload text escaped
    expect(sent.content).toBe('<@&1>');
    expect(sent.components).toBe(menu);
  });

  it("a template's embed replaces the card's", () => {
    const template = { embed: { title: 'from a template' }, pattern: 'issue.*' };
    expect(cardInPlace(plan({ template }), { embeds: [], content: null, components: [] }, progress()).embeds).toEqual([template.embed]);
    expect(cardPostedAgain(plan({ template }), null, undefined).embeds).toEqual([template.embed]);
  });

  it('posted again further down: it links to the thread it left behind, and carries the ping', () => {
    const again = cardPostedAgain(plan(), THREAD, oncall);
    expect(again.embeds[0]!.fields?.find((f) => f.name === 'Thread')?.value).toBe(`<#${THREAD}>`);
    expect(fieldNames(again.embeds[0]!)).not.toContain('History');
    expect(again.content).toBe('<@&1>');
    expect(cardPostedAgain(plan(), null, undefined).content).toBeNull();
  });
});

describe('who a card posted again pings', () => {
  it("its route's role, and the alert's roles unless the thread lines pinged them already", () => {
    expect(
      repostPing(plan({ ping: oncall, alertPing: { content: '<@&1> <@&2>', roleIds: [...oncall.roleIds, ...payments.roleIds] } }), false),
    ).toEqual({
      content: '<@&1> <@&2>',
      roleIds: [asRoleId('1'), asRoleId('2')],
    });
    expect(repostPing(plan({ ping: oncall, alertPing: payments }), true)).toEqual(oncall);
    expect(repostPing(plan({ alertPing: payments }), false)).toEqual(payments);
    expect(repostPing(plan(), false)).toBeUndefined();
  });
});

describe('the pointer left where the card was', () => {
  it('a card of its own becomes one line; in a shared message only its slot does', () => {
    expect(
      pointerMessage({ embeds: [{ title: 'old' }], content: '<@&1>', components: [] }, { shared: false, position: 0 }, '↓ moved'),
    ).toEqual({
      embeds: [],
      content: '↓ moved',
      components: [],
    });
    const shared: SentCardMessage = { embeds: [{ title: 'a' }, { title: 'b' }], content: null, components: [] };
    expect(pointerMessage(shared, { shared: true, position: 1 }, '↓ moved')).toEqual({
      embeds: [{ title: 'a' }, { description: '↓ moved' }],
      content: null,
      components: [],
    });
  });

  it('Discord failing for now: the step is tried again; past the edit cap a card of its own is deleted; otherwise it is left', () => {
    expect(pointerFailure(apiError(503, 0), false)).toBe('try again');
    expect(pointerFailure(new DiscordUnreachable(new Error('ECONNRESET')), true)).toBe('try again');
    expect(pointerFailure(apiError(400, 30046), false)).toBe('delete the old card');
    expect(pointerFailure(apiError(400, 30046), true)).toBe('leave it');
    expect(pointerFailure(apiError(404, 10008), false)).toBe('leave it');
    expect(pointerFailure(apiError(403, 50013), false)).toBe('leave it');
  });
});

describe("the edit's message in the thread", () => {
  const echo: CardChange = { ...resolved, line: 'Resolved', silent: true };

  it('a line per event that adds one, silent when the plan is, under its own nonce', () => {
    const message = threadMessage(plan({ batch: [job(1_500), job(2_000)], changes: [echo, resolved], silent: true }), true)!;
    expect(message.content.split('\n')).toHaveLength(1);
    expect(message.content).toContain(resolved.line);
    expect(message).toMatchObject({ nonce: 'batch-1:t', silent: true, embeds: [] });
    expect(message).not.toHaveProperty('allowedRoleIds');
  });

  it("none when every event is Sentry's echo of a change made from Discord", () => {
    expect(threadMessage(plan({ changes: [echo] }), true)).toBeUndefined();
  });

  it("the alert's ping goes first, and only when asked", () => {
    const alerting = plan({ alertPing: payments });
    expect(threadMessage(alerting, true)).toMatchObject({ allowedRoleIds: payments.roleIds });
    expect(threadMessage(alerting, true)!.content.startsWith('<@&2>\n')).toBe(true);
    expect(threadMessage(alerting, false)!.content).not.toContain('<@&2>');
  });

  it('at most the ten latest events in full', () => {
    const details = Array.from({ length: 12 }, (_, i) => ({ title: `event ${i}` }));
    expect(threadMessage(plan({ details }), false)!.embeds).toHaveLength(10);
  });
});

describe('what is recorded of an edit', () => {
  const sent: SentCardMessage = { embeds: [{ title: 'card' }], content: null, components: [] };

  it('edited in place: where it was, as it now is', () => {
    const { card: row, messages } = editRecord(
      plan({ card: card({ shared: true, position: 2 }) }),
      { messageId: MESSAGE, moved: false, message: sent, threadId: null },
      3_000,
    );
    expect(row).toMatchObject({ messageId: MESSAGE, position: 2, shared: true, postedAt: 500, lastEditAt: 3_000, resolvedAt: 3_000 });
    expect(JSON.parse(row.state)).toEqual(resolved.state);
    expect(messages).toEqual([{ messageId: MESSAGE, channelId: CHANNEL, ...sent }]);
  });

  it('posted again: a message of its own, posted now, and the pointer in its old message', () => {
    const moved = asMessageId('300');
    const pointer: SentCardMessage = { embeds: [], content: '↓ moved', components: [] };
    const { card: row, messages } = editRecord(
      plan({ card: card({ shared: true, position: 2 }), state: created.state }),
      { messageId: moved, moved: true, message: sent, pointer, threadId: asChannelId('300') },
      3_000,
    );
    expect(row).toMatchObject({ messageId: moved, position: 0, shared: false, threadId: '300', postedAt: 3_000, resolvedAt: null });
    expect(messages).toEqual([
      { messageId: moved, channelId: CHANNEL, ...sent },
      { messageId: MESSAGE, channelId: CHANNEL, ...pointer },
    ]);
  });
});
