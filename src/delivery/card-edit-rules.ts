import type { APIEmbed } from 'discord.js';
import { cardEmbed, threadLines } from '../cards/embed.js';
import { isResolved } from '../cards/state.js';
import type { CardWrite, SentCardMessage } from '../db/cards.js';
import { CONTENT_LIMIT, EMBED_LIMITS, embedLength } from '../embed/limits.js';
import { truncate } from '../embed/text.js';
import type { ChannelId, MessageId, RoleId } from '../ids.js';
import { mentions } from '../routing/ping.js';
import { cardButtons } from '../triage/components.js';
import type { CardUpdatePlan } from './card-plan.js';
import { classifyFailure } from './classify-error.js';
import { DISCORD, discordCode } from './discord-codes.js';
import { partsThatFit } from './policy.js';

/**
 * The pure decisions of a card's edit in Discord (card-update.ts carries the steps out): where the
 * edit has got, whether the card must be posted again further down, how it is drawn, whose ping
 * goes with it, what a failure means, and what is recorded.
 */

export interface Ping {
  content: string;
  roleIds: RoleId[];
}

/** How far an edit has got in Discord: each step takes it and hands it on. */
export interface EditProgress {
  /** The card's thread, when it has one that takes lines (null: none yet, gone, or threads are off here). */
  threadId: ChannelId | null;
  /** The card is posted again further down instead of edited where it is (it needs eyes, or its message or thread is gone). */
  repost: boolean;
  /** The edit's lines are in the thread. */
  linesPosted: boolean;
  /** The roles the edit's alerts named were pinged (with the lines in the thread, or with the card posted again). */
  alertPinged: boolean;
}

/** Where the card is once edited or posted again, as it will be recorded. */
export interface PlacedCard {
  messageId: MessageId;
  /** Posted again further down (a message of its own, at position 0). */
  moved: boolean;
  /** The message the card is in now, as sent. */
  message: SentCardMessage;
  /** What its old message shows now, when the card moved and a pointer could be left there. */
  pointer?: SentCardMessage;
  threadId: ChannelId | null;
}

/** What became of a post in the card's thread. */
export type ThreadPostOutcome = 'posted' | 'gone' | 'unavailable';

/** A card whose message is not on record: the card alone is its message. */
export const NO_MESSAGE: SentCardMessage = { embeds: [], content: null, components: [] };

/** A card that shares its message with others has no thread; nor has any card of a route where threads failed. */
export const threadsAllowed = (plan: Pick<CardUpdatePlan, 'card' | 'route'>): boolean => !plan.card.shared && !plan.route.threadProblem;

/** Before any step: the thread the card has, and a move down if the plan asks for one (it needs eyes, or its route moved). */
export const editStart = (plan: Pick<CardUpdatePlan, 'card' | 'bump'>): EditProgress => ({
  threadId: plan.card.threadId,
  repost: plan.bump,
  linesPosted: false,
  alertPinged: false,
});

/** After the lines went to the thread the card had (with the alert's ping, if any). */
export function afterItsThread(progress: EditProgress, outcome: ThreadPostOutcome): EditProgress {
  const posted = outcome === 'posted';
  const next = { ...progress, linesPosted: posted, alertPinged: posted };
  // The thread was deleted, or archived and locked: the card starts over further down, with a fresh thread.
  return outcome === 'gone' ? { ...next, threadId: null, repost: true } : next;
}

/** After a thread was asked for the card where it is: started, refused (threads off), or its message is gone. */
export function afterThreadStart(progress: EditProgress, started: ChannelId | null | 'message gone'): EditProgress {
  return started === 'message gone' ? { ...progress, repost: true } : { ...progress, threadId: started };
}

function fits(embeds: readonly APIEmbed[]): boolean {
  return embeds.length <= EMBED_LIMITS.embedsPerMessage && embeds.reduce((n, e) => n + embedLength(e), 0) <= EMBED_LIMITS.total;
}

/**
 * Whether the card is posted again further down rather than edited where it is (`inPlace`: its
 * message with the card drawn anew). Discord may still refuse the edit (cannotEditInPlace).
 */
export function mustPostAgain(plan: CardUpdatePlan, progress: EditProgress, inPlace: readonly APIEmbed[]): boolean {
  if (progress.repost) return true;
  // An edit notifies nobody: an alert's ping with no thread to carry it goes with the card, posted again.
  if (plan.alertPing && !progress.alertPinged && !threadsAllowed(plan)) return true;
  // A shared message that would no longer fit: this card moves to a message of its own.
  return plan.card.shared && !fits(inPlace);
}

/** Discord's refusals of an edit that mean "post the card again": it was deleted (10008), or is past the edit cap on old messages (30046). */
export function cannotEditInPlace(error: unknown): boolean {
  const code = discordCode(error);
  return code === DISCORD.UNKNOWN_MESSAGE || code === DISCORD.EDIT_CAP;
}

/**
 * The card's embed: its template's, or the card drawn from its state. A thread shows under the
 * message it was started from (`onMessage`); a card that moved down links to it instead.
 */
function drawCard(
  plan: Pick<CardUpdatePlan, 'state' | 'template'>,
  threadId: ChannelId | null,
  history: boolean,
  onMessage?: string,
): APIEmbed {
  return plan.template?.embed ?? cardEmbed(plan.state, { history, threadLink: threadId && threadId !== onMessage ? threadId : null });
}

/** The card's message with the card drawn anew in its slot: an edit sends the whole list, which replaces the old. */
function inPlaceEmbeds(message: SentCardMessage, position: number, card: APIEmbed): APIEmbed[] {
  return message.embeds.length > 0 ? message.embeds.map((e, i) => (i === position ? card : e)) : [card];
}

/** A card of its own shows its buttons for its state now; a shared message keeps its menu of issues. */
const ownButtons = (plan: CardUpdatePlan) => cardButtons(plan.state, { routeId: plan.card.routeId, connected: plan.connected });

/** The card's message as the edit in place sends it: the card drawn anew in its slot, its history on it when it has no thread. */
export function cardInPlace(plan: CardUpdatePlan, message: SentCardMessage, progress: EditProgress): SentCardMessage {
  const card = drawCard(plan, progress.threadId, !progress.threadId || !threadsAllowed(plan), plan.card.messageId);
  return {
    embeds: inPlaceEmbeds(message, plan.card.position, card),
    content: message.content,
    components: plan.card.shared ? message.components : ownButtons(plan),
  };
}

/** The card posted again further down, a message of its own. Without a thread yet, one is started from it, so its history is not drawn on it. */
export function cardPostedAgain(plan: CardUpdatePlan, threadId: ChannelId | null, ping: Ping | undefined): SentCardMessage {
  return { embeds: [drawCard(plan, threadId, !threadsAllowed(plan))], content: ping?.content ?? null, components: ownButtons(plan) };
}

/** A route's ping and an alert's, as one message's content. */
function mergePings(...pings: (Ping | undefined)[]): Ping | undefined {
  const roleIds = [...new Set(pings.flatMap((p) => p?.roleIds ?? []))];
  return roleIds.length > 0 ? { content: mentions(roleIds), roleIds } : undefined;
}

/** The card posted again pings its route's role, and the alert's roles unless its thread lines pinged them already. */
export const repostPing = (plan: Pick<CardUpdatePlan, 'ping' | 'alertPing'>, alertPinged: boolean): Ping | undefined =>
  mergePings(plan.ping, alertPinged ? undefined : plan.alertPing);

/** The old place of a card that moved: a one-line pointer (or, in a shared message, a pointer embed in its slot). */
export function pointerMessage(message: SentCardMessage, card: { shared: boolean; position: number }, text: string): SentCardMessage {
  return card.shared
    ? { ...message, embeds: message.embeds.map((e, i) => (i === card.position ? { description: text } : e)) }
    : { embeds: [], content: text, components: [] };
}

/**
 * What to do when the pointer cannot be left. Discord out of reach or failing for now: the whole
 * step is tried again (the card posted again comes back under its nonce), so that the old card does
 * not stay claiming a state. Past Discord's edit cap, the old card would go on claiming a state the
 * new one has left: a card of its own is deleted instead (the bot's own message; its thread stays).
 * A message that is gone, or shared with other cards, is left as it is.
 */
export function pointerFailure(error: unknown, shared: boolean): 'try again' | 'delete the old card' | 'leave it' {
  if (classifyFailure(error).kind === 'transient') return 'try again';
  return discordCode(error) === DISCORD.EDIT_CAP && !shared ? 'delete the old card' : 'leave it';
}

/**
 * One message in the card's thread: a line per event and the events worth reading in full, with
 * the alert's ping when it goes there. None when every event is Sentry's echo of a change made from
 * Discord (its line is already there).
 */
export function threadMessage(plan: CardUpdatePlan, withAlertPing: boolean) {
  const lines = plan.changes.flatMap((c, i) => (c.silent ? [] : [{ text: c.line, at: plan.batch[i]!.receivedAt }]));
  if (lines.length === 0) return undefined;
  const ping = withAlertPing ? plan.alertPing : undefined;
  return {
    content: truncate([ping?.content, threadLines(lines)].filter(Boolean).join('\n'), CONTENT_LIMIT),
    embeds: plan.details.slice(0, partsThatFit(plan.details.map((e) => ({ embeds: [e] })))),
    // Its own nonce: the card's post in the channel carries the batch id itself.
    nonce: `${plan.batchId}:t`,
    silent: plan.silent,
    ...(ping ? { allowedRoleIds: ping.roleIds } : {}),
  };
}

/** What is recorded of an edit (in the transaction that marks its events delivered): the card where it is now, and the messages as sent. */
export function editRecord(
  plan: CardUpdatePlan,
  placed: PlacedCard,
  at: number,
): { card: CardWrite; messages: (SentCardMessage & { messageId: MessageId; channelId: ChannelId })[] } {
  const { card, channelId } = plan;
  return {
    card: {
      routeId: card.routeId,
      cardKey: card.cardKey,
      channelId,
      messageId: placed.messageId,
      position: placed.moved ? 0 : card.position,
      shared: placed.moved ? false : card.shared,
      threadId: placed.threadId,
      state: JSON.stringify(plan.state),
      postedAt: placed.moved ? at : card.postedAt,
      lastEditAt: at,
      updatedAt: at,
      resolvedAt: isResolved(plan.state) ? at : null,
    },
    messages: [
      { messageId: placed.messageId, channelId, ...placed.message },
      ...(placed.pointer ? [{ messageId: card.messageId, channelId: card.channelId, ...placed.pointer }] : []),
    ],
  };
}
