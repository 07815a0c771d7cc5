import { DiscordAPIError, type APIEmbed } from 'discord.js';
import { applyEvent, isResolved, type CardChange, type CardState } from '../cards/state.js';
import { cardEmbed, pointerContent, threadLines, threadName } from '../cards/embed.js';
import { cardMessage, cardsOfKeys, saveCard, saveCardMessage, setThreadProblem, type SentCardMessage } from '../db/cards.js';
import { sourcesConnected } from '../db/sources.js';
import { cardButtons, sharedButtons } from '../triage/components.js';
import { TRIAGE_EVENT_TYPE } from '../triage/actions.js';
import type { Database } from '../db/database.js';
import { assignBatch, jobsInBatch, pendingForCard, pendingForChannel, type Job } from '../db/deliveries.js';
import { routesByIds } from '../db/routes.js';
import type { CardRow, Route } from '../db/schema.js';
import { guildsOfSources } from '../db/sources.js';
import { templateFor } from '../db/templates.js';
import { EMBED_LIMITS, embedLength } from '../embed/limits.js';
import type { Logger } from '../logger.js';
import { renderEvent, type RenderedEvent } from '../render/render-event.js';
import { parsePayload } from '../sentry/payload.js';
import { cardEditAt, gatheringUntil, isCardJob, needsBump, partsThatFit } from './policy.js';
import { sendPlan, withPing, type SendPlan } from './plan.js';
import { newNonce, type DiscordChannels } from './sender.js';

/** Discord's answers that a card's edges meet (discord-api-docs: JSON error codes). */
const UNKNOWN_CHANNEL = 10003;
const UNKNOWN_MESSAGE = 10008;
const THREAD_ARCHIVED = 50083;
const OLD_MESSAGE_EDIT_CAP = 30046;
const NO_ACCESS = new Set([50001, 50013]);
/** A card is moved down when it needs eyes and is no longer among this many latest messages. */
const VISIBLE_MESSAGES = 20;
/** How far down a channel's queue the lane looks for a card that may go while the head's card waits to be edited. */
const LOOKAHEAD = 100;

const codeOf = (error: unknown): number | undefined => (error instanceof DiscordAPIError ? Number(error.code) : undefined);

export interface CardDeps {
  db: Database;
  discord: DiscordChannels;
  logger: Logger;
  now: () => number;
  /** A card this old is posted again (further down) when something needs eyes. */
  bumpAfterMs: number;
  batchLingerMs: number;
}

/** One edit of a card: what changed, and how it will look. */
export interface CardUpdatePlan {
  kind: 'card-update';
  channelId: string;
  batchId: string;
  batch: Job[];
  card: CardRow;
  route: Route;
  state: CardState;
  changes: CardChange[];
  /** Post the card again further down (it needs eyes and would not be seen where it is). */
  bump: boolean;
  /** The embed a template made for the last event, which replaces the card's own, and the template's pattern. */
  template?: { embed: APIEmbed; pattern: string };
  /** The built-in embeds of the events worth reading in full in the thread. */
  details: APIEmbed[];
  /** A route's ping for an event that calls for one, when the card is posted again. */
  ping?: { content: string; roleIds: string[] };
  /** Its source is connected to Sentry's API: the card shows triage buttons. */
  connected: boolean;
}

/** A card update carried out in Discord, and what to record of it (in the transaction that marks its events delivered). */
export interface CardUpdateDone {
  messageId: string;
  record: (tx: Database, at: number) => Promise<void>;
}

export type CardPlan = SendPlan | CardUpdatePlan | { waitUntil: number };

const payloadOf = (job: Job): unknown => {
  try {
    return parsePayload(job.body);
  } catch {
    return {};
  }
};

const changeFor = (prev: CardState | undefined, job: Job): CardChange =>
  applyEvent(prev, { type: job.eventType, payload: payloadOf(job), key: job.cardKey!, at: job.receivedAt });

const cardId = (job: Pick<Job, 'routeId' | 'cardKey'>) => `${job.routeId}:${job.cardKey}`;

/** The first waiting delivery of each card, in order: only these may go (a card's own events keep their order). */
function firstOfEachCard(jobs: readonly Job[]): Job[] {
  const seen = new Set<string>();
  return jobs.filter((job) => !seen.has(cardId(job)) && seen.add(cardId(job)));
}

function fits(embeds: readonly APIEmbed[]): boolean {
  return embeds.length <= EMBED_LIMITS.embedsPerMessage && embeds.reduce((n, e) => n + embedLength(e), 0) <= EMBED_LIMITS.total;
}

/**
 * Cards on card routes: one message per Sentry issue (or metric alert incident), edited in place as
 * events about it arrive, its history in a thread. The decisions (gathering, coalescing, moving a
 * card down) are the policy's; this carries them out.
 */
export class CardLane {
  constructor(private readonly deps: CardDeps) {}

  /**
   * The next step for a channel whose oldest waiting delivery is about a card. Each card keeps its
   * events in order, but cards do not wait for one another: while one card's edit waits for its
   * coalescing second, a new card or another card's edit behind it may go.
   */
  async plan(channelId: string, now: number, options: { ignoreLinger?: boolean } = {}): Promise<CardPlan> {
    const { db } = this.deps;
    const queue = await pendingForChannel(db, channelId, LOOKAHEAD);
    // Cards go no further than the first feed event in the channel, which waits for what came before it.
    const firstFeed = queue.findIndex((job) => !isCardJob(job));
    const heads = firstOfEachCard(firstFeed === -1 ? queue : queue.slice(0, firstFeed));
    const cards = await cardsOfKeys(db, heads);
    let earliest = Number.POSITIVE_INFINITY;
    let newCardsTried = false;
    for (const job of heads) {
      if (job.nextAttemptAt > now) {
        earliest = Math.min(earliest, job.nextAttemptAt);
        continue;
      }
      const card = cards.get(cardId(job));
      // A batch already formed (a retry, or a resend after a crash) goes again as it was.
      if (job.batchId)
        return card ? this.planUpdate(job, card, now) : this.planNewCards(channelId, await jobsInBatch(db, job.batchId), job.batchId);
      if (!card) {
        if (newCardsTried) continue;
        newCardsTried = true;
        const fresh = heads.filter((j) => !cards.has(cardId(j)) && !j.batchId && j.nextAttemptAt <= now);
        const together = fresh[0]!.solo ? [fresh[0]!] : fresh.slice(0, EMBED_LIMITS.embedsPerMessage).filter((j, i) => i === 0 || !j.solo);
        const waitUntil = options.ignoreLinger ? undefined : gatheringUntil(together, now, this.deps.batchLingerMs);
        if (waitUntil === undefined) return this.planNewCards(channelId, together);
        earliest = Math.min(earliest, waitUntil);
        continue;
      }
      const editAt = cardEditAt(card.lastEditAt);
      // A change made from Discord shows at once: the member who clicked is looking at the card.
      if (now >= editAt || job.eventType === TRIAGE_EVENT_TYPE) return this.planUpdate(job, card, now);
      earliest = Math.min(earliest, editAt);
    }
    return { waitUntil: earliest };
  }

  /**
   * New cards go out like any batch: several issues that appear together share a message (up to
   * 10 embeds, 6,000 characters), and a lone one goes at once. Recording the message records the cards.
   */
  private async planNewCards(channelId: string, jobs: Job[], batchId?: string): Promise<SendPlan> {
    const { db } = this.deps;
    const routes = await routesByIds(db, [...new Set(jobs.map((j) => j.routeId))]);
    // Sized as if shared (with a history field each); a card alone keeps its history in its thread instead.
    const drafts = await Promise.all(jobs.map((job) => this.draftNewCard(job, routes.get(job.routeId), true)));
    const count = batchId ? jobs.length : partsThatFit(drafts.map((d) => d.part));
    const batch = jobs.slice(0, count);
    const shared = count > 1;
    const final = shared ? drafts.slice(0, count) : [await this.draftNewCard(batch[0]!, routes.get(batch[0]!.routeId), false)];
    const id = batchId ?? newNonce();
    if (!batchId)
      await assignBatch(
        db,
        batch.map((j) => j.seq),
        id,
      );
    const plan = sendPlan(
      channelId,
      id,
      batch,
      final.map((d) => d.part),
    );
    const connected = await sourcesConnected(
      db,
      batch.map((j) => j.sourceId),
    );
    const cards = final.map(({ job, state }) => ({ routeId: job.routeId, state }));
    plan.components = shared
      ? sharedButtons(
          cards,
          cards.every((c, i) => connected.has(batch[i]!.sourceId)),
        )
      : cardButtons(cards[0]!.state, { routeId: cards[0]!.routeId, connected: connected.has(batch[0]!.sourceId) });
    plan.record = async (tx, messageId, at) => {
      await saveCardMessage(
        tx,
        { messageId, channelId, embeds: plan.embeds, content: plan.content ?? null, components: plan.components ?? [] },
        at,
      );
      for (const [position, { job, state }] of final.entries()) {
        await saveCard(tx, {
          routeId: job.routeId,
          cardKey: job.cardKey!,
          channelId,
          messageId,
          position,
          shared,
          threadId: null,
          state: JSON.stringify(state),
          postedAt: at,
          lastEditAt: at,
          updatedAt: at,
          resolvedAt: isResolved(state) ? at : null,
        });
      }
    };
    return plan;
  }

  /**
   * A new card's part of a message: the card (or the embed its template makes, which replaces the
   * card for that event), and its route's ping. After Discord refused it twice, the generic embed.
   */
  private async draftNewCard(
    job: Job,
    route: Route | undefined,
    history: boolean,
  ): Promise<{ job: Job; state: CardState; part: RenderedEvent }> {
    const { state } = changeFor(undefined, job);
    const rendered = renderEvent(job, await templateFor(this.deps.db, job.sourceId, job.routeId, job.eventType));
    const own = rendered.templatePattern !== undefined || job.renderFallback >= 2;
    const embed = own ? rendered.embeds[0]! : cardEmbed(state, { history });
    return { job, state, part: withPing({ ...rendered, embeds: [embed] }, route) };
  }

  /**
   * An edit: every waiting event about the card at once (several within a second are one edit),
   * folded into its state. When one of them needs eyes and the card would not be seen where it is
   * (older than CARD_BUMP_AFTER, or no longer among the channel's last 20 messages), it moves down.
   */
  private async planUpdate(head: Job, card: CardRow, now: number): Promise<CardUpdatePlan> {
    const { db } = this.deps;
    const jobs = head.batchId ? await jobsInBatch(db, head.batchId) : await pendingForCard(db, head.routeId, head.cardKey!);
    const batchId = head.batchId ?? newNonce();
    if (!head.batchId)
      await assignBatch(
        db,
        jobs.map((j) => j.seq),
        batchId,
      );
    const route = (await routesByIds(db, [head.routeId])).get(head.routeId)!;
    let state = JSON.parse(card.state) as CardState;
    const changes: CardChange[] = [];
    for (const job of jobs) {
      const change = changeFor(state, job);
      changes.push(change);
      state = change.state;
    }
    const bump = await needsBump({
      attention: changes.some((c) => c.attention),
      postedAt: card.postedAt,
      now,
      bumpAfterMs: this.deps.bumpAfterMs,
      visible: () => this.visible(card),
    });
    const last = jobs[jobs.length - 1]!;
    const rendered = renderEvent(last, await templateFor(db, last.sourceId, last.routeId, last.eventType));
    const details = jobs.filter((_, i) => changes[i]!.detailed).flatMap((job) => renderEvent(job).embeds);
    const ping = withPing({ ...rendered, content: undefined, allowedRoleIds: [] }, route);
    return {
      kind: 'card-update',
      channelId: head.channelId,
      batchId,
      batch: jobs,
      card,
      route,
      state,
      changes,
      bump,
      ...(rendered.templatePattern !== undefined ? { template: { embed: rendered.embeds[0]!, pattern: rendered.templatePattern } } : {}),
      details,
      ...(ping.content ? { ping: { content: ping.content, roleIds: ping.allowedRoleIds } } : {}),
      connected: (await sourcesConnected(db, [head.sourceId])).has(head.sourceId),
    };
  }

  /** Still among the channel's latest messages? When Discord will not say (no Read Message History), assume so. */
  private async visible(card: CardRow): Promise<boolean> {
    try {
      return (await this.deps.discord.countNewer(card.channelId, card.messageId, VISIBLE_MESSAGES)) < VISIBLE_MESSAGES;
    } catch (error) {
      this.deps.logger.debug({ err: error, channel_id: card.channelId }, 'could not read the channel history; assuming the card is seen');
      return true;
    }
  }

  /**
   * Carries out an edit in Discord: the lines in the card's thread, the card edited in place (or
   * posted again further down, leaving a pointer), a thread started on the first follow-up. Every
   * step can be repeated after a crash: an edit sends the whole card, a message has one thread,
   * and posts carry nonces drawn from the batch id. The caller records the result.
   */
  async deliverUpdate(plan: CardUpdatePlan): Promise<CardUpdateDone> {
    const { db, discord } = this.deps;
    const { card, route, channelId, batchId } = plan;
    const message = (await cardMessage(db, card.messageId)) ?? { embeds: [], content: null, components: [] };
    // A card of its own shows its buttons for its state now; a shared message keeps its menu of issues.
    const ownButtons = cardButtons(plan.state, { routeId: card.routeId, connected: plan.connected });
    const threadsAllowed = () => !card.shared && !route.threadProblem;
    let threadId = card.threadId;
    let linesPosted = false;
    let moved = plan.bump;

    if (threadId && threadsAllowed()) {
      const outcome = await this.postLines(plan, threadId);
      // The thread was deleted, or archived and locked: the card starts over further down, with a fresh thread.
      if (outcome === 'gone') [threadId, moved] = [null, true];
      linesPosted = outcome === 'posted';
    }
    if (!moved && !threadId && threadsAllowed()) {
      const started = await this.ensureThread(plan, card.messageId);
      if (started === 'message gone') moved = true;
      else threadId = started;
    }
    // A thread shows under the message it was started from; a card that moved down links to it instead.
    const drawCard = (history: boolean, onMessage?: string) =>
      plan.template?.embed ?? cardEmbed(plan.state, { history, threadLink: threadId && threadId !== onMessage ? threadId : null });
    const inPlace = drawCard(!threadId || !threadsAllowed(), card.messageId);
    let embeds = message.embeds.length > 0 ? message.embeds.map((e, i) => (i === card.position ? inPlace : e)) : [inPlace];
    // A shared message that would no longer fit: this card moves to a message of its own.
    if (!moved && card.shared && !fits(embeds)) moved = true;
    const components = card.shared ? message.components : ownButtons;
    if (!moved) {
      try {
        await discord.edit(channelId, card.messageId, { embeds, components });
      } catch (error) {
        const code = codeOf(error);
        if (code !== UNKNOWN_MESSAGE && code !== OLD_MESSAGE_EDIT_CAP) throw error;
        this.deps.logger.info(
          { channel_id: channelId, card_key: card.cardKey, code },
          'the card cannot be edited any more; posting it again',
        );
        moved = true;
      }
    }
    let messageId = card.messageId;
    let pointer: SentCardMessage | undefined;
    if (moved) {
      // Without a thread yet, one is started from the new card, so its history is not drawn on it.
      embeds = [drawCard(!threadsAllowed())];
      messageId = (
        await discord.post(channelId, {
          embeds,
          nonce: batchId,
          content: plan.ping?.content,
          allowedRoleIds: plan.ping?.roleIds,
          components: ownButtons,
        })
      ).id;
      const sourceId = plan.batch[0]!.sourceId;
      const guildId = (await guildsOfSources(db, [sourceId])).get(sourceId) ?? '@me';
      pointer = await this.leavePointer(plan, message, `https://discord.com/channels/${guildId}/${channelId}/${messageId}`);
      if (!threadId && threadsAllowed()) {
        const started = await this.ensureThread(plan, messageId);
        threadId = started === 'message gone' ? null : started;
      }
    }
    if (threadId && threadsAllowed() && !linesPosted) await this.postLines(plan, threadId);

    const final = {
      threadId,
      messageId,
      moved,
      embeds,
      pointer,
      content: moved ? (plan.ping?.content ?? null) : message.content,
      components: moved ? ownButtons : components,
    };
    return {
      messageId,
      record: async (tx, at) => {
        await saveCard(tx, {
          routeId: card.routeId,
          cardKey: card.cardKey,
          channelId,
          messageId: final.messageId,
          position: final.moved ? 0 : card.position,
          shared: final.moved ? false : card.shared,
          threadId: final.threadId,
          state: JSON.stringify(plan.state),
          postedAt: final.moved ? at : card.postedAt,
          lastEditAt: at,
          updatedAt: at,
          resolvedAt: isResolved(plan.state) ? at : null,
        });
        await saveCardMessage(
          tx,
          { messageId: final.messageId, channelId, embeds: final.embeds, content: final.content, components: final.components },
          at,
        );
        if (final.pointer) await saveCardMessage(tx, { messageId: card.messageId, channelId, ...final.pointer }, at);
      },
    };
  }

  /** The old place of a card that moved: a one-line pointer (or, in a shared message, a pointer embed in its slot). */
  private async leavePointer(plan: CardUpdatePlan, message: SentCardMessage, newUrl: string): Promise<SentCardMessage | undefined> {
    const { card } = plan;
    const text = pointerContent(plan.state, newUrl);
    const pointer: SentCardMessage = card.shared
      ? { ...message, embeds: message.embeds.map((e, i) => (i === card.position ? { description: text } : e)) }
      : { embeds: [], content: text, components: [] };
    try {
      await this.deps.discord.edit(plan.channelId, card.messageId, {
        embeds: pointer.embeds,
        components: pointer.components,
        ...(pointer.content !== null ? { content: pointer.content } : {}),
      });
      return pointer;
    } catch (error) {
      // The old message is gone or past Discord's edit cap: nothing to point from.
      this.deps.logger.info({ err: error, channel_id: plan.channelId }, 'could not leave a pointer where the card was');
      return undefined;
    }
  }

  /**
   * The card's thread, started from its message on the first follow-up. Missing permissions turn
   * threads off for the route (with the reason, shown by `info`); a deleted message means the card
   * must be posted again.
   */
  private async ensureThread(plan: CardUpdatePlan, messageId: string): Promise<string | null | 'message gone'> {
    try {
      return (await this.deps.discord.startThread(plan.channelId, messageId, threadName(plan.state))).id;
    } catch (error) {
      const code = codeOf(error);
      if (code === UNKNOWN_MESSAGE) return 'message gone';
      if (code === undefined || !NO_ACCESS.has(code)) throw error;
      await this.threadsUnavailable(
        plan,
        `the bot lacks Create Public Threads in <#${plan.channelId}>: history is shown on the cards instead`,
      );
      return null;
    }
  }

  /**
   * One message in the thread: a line per event, and the events worth reading in full. Posting
   * unarchives an archived thread; a locked one is unarchived first, and if that fails too the
   * thread is `gone`, like a deleted one.
   */
  private async postLines(plan: CardUpdatePlan, threadId: string): Promise<'posted' | 'gone' | 'unavailable'> {
    // Sentry's echo of a change made from Discord adds nothing: its line is already there.
    const lines = plan.changes.flatMap((c, i) => (c.silent ? [] : [{ text: c.line, at: plan.batch[i]!.receivedAt }]));
    if (lines.length === 0) return 'posted';
    const content = threadLines(lines);
    const embeds = plan.details.slice(0, partsThatFit(plan.details.map((e) => ({ embeds: [e] }))));
    // Its own nonce: the card's post in the channel carries the batch id itself.
    const post = () => this.deps.discord.post(threadId, { content, embeds, nonce: `${plan.batchId}:t` });
    try {
      await post();
      return 'posted';
    } catch (error) {
      const code = codeOf(error);
      if (code === UNKNOWN_CHANNEL) return 'gone';
      if (code === THREAD_ARCHIVED) {
        try {
          await this.deps.discord.unarchive(threadId);
        } catch (unarchiveError) {
          if (codeOf(unarchiveError) === undefined) throw unarchiveError;
          this.deps.logger.info({ err: unarchiveError, thread_id: threadId }, 'the card thread is locked; starting a fresh one');
          return 'gone';
        }
        await post();
        return 'posted';
      }
      if (code !== undefined && NO_ACCESS.has(code)) {
        await this.threadsUnavailable(
          plan,
          `the bot lacks Send Messages in Threads in <#${plan.channelId}>: history is shown on the cards instead`,
        );
        return 'unavailable';
      }
      throw error;
    }
  }

  private async threadsUnavailable(plan: CardUpdatePlan, reason: string): Promise<void> {
    this.deps.logger.warn({ route_id: plan.route.id, reason }, 'card threads are not available');
    await setThreadProblem(this.deps.db, plan.route.id, reason);
    plan.route.threadProblem = reason;
  }
}
