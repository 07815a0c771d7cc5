import type { APIEmbed } from 'discord.js';
import { applyEvent, type CardChange, type CardState } from '../cards/state.js';
import { cardsOfKeys } from '../db/cards.js';
import { reform } from '../db/delivery-state/index.js';
import type { Database } from '../db/database.js';
import {
  cardsSendingElsewhere,
  jobsOf,
  queuedForCard,
  queuedForChannel,
  queuedInBatch,
  seqsOf,
  withinBytes,
  type Job,
  type QueuedJob,
} from '../db/queue.js';
import { routesByIds } from '../db/routes.js';
import type { CardRow, Hold, Route } from '../db/schema.js';
import { sourcesConnected } from '../db/sources.js';
import { templateFor } from '../db/templates.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { BatchId, ChannelId, RoleId } from '../ids.js';
import type { Logger } from '../logger.js';
import { renderEvent, type EventToRender } from '../render/render-event.js';
import { alertActionsOf } from '../sentry/alert-action.js';
import { TRIAGE_EVENT_TYPE } from '../triage/actions.js';
import { mentions } from '../routing/ping.js';
import { payloadOf, planNewCards } from './card-new.js';
import { claimPlan } from './claim.js';
import { acceptedAlertRole, quietNow, withPing, type SendPlan } from './plan.js';
import { CARD_EDIT_EVERY_MS, cardEditAt, gatheringUntil, isCardJob, needsBump, staysSilent } from './policy.js';
import { newNonce, type DiscordChannels } from './sender.js';
import { letIngestIn } from './clock.js';
import { isOwnEvent } from '../own-events.js';
import { eventFacts, type Level } from '../sentry/facts.js';

/** A card is moved down when it needs eyes and is no longer among this many latest messages. */
const VISIBLE_MESSAGES = 20;
/** How far down a channel's queue the lane looks for a card that may go while the head's card waits to be edited. */
const LOOKAHEAD = 100;
/** One edit takes in at most this many events, and their bodies within BODY_BUDGET_BYTES (a storm about one issue is several edits). */
const EVENTS_PER_EDIT = 500;
/** Folding events into a card's state gives way to webhooks this often. */
const FOLD_SLICE = 50;

export interface CardPlanDeps {
  db: Database;
  /** Asked, at most once per edit that needs eyes, whether the card is still among the latest messages. */
  discord: Pick<DiscordChannels, 'countNewer'>;
  logger: Logger;
  /** A card this old is posted again (further down) when something needs eyes. */
  bumpAfterMs: number;
  batchLingerMs: number;
}

/** One edit of a card: what changed, and how it will look. */
export interface CardUpdatePlan {
  kind: 'card-update';
  channelId: ChannelId;
  batchId: BatchId;
  batch: QueuedJob[];
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
  ping?: { content: string; roleIds: RoleId[] };
  /**
   * The roles the edit's alerts named and the settings check accepted: an edit notifies nobody, so
   * they go with the card's thread lines, or with the card posted again when it has no thread.
   */
  alertPing?: { content: string; roleIds: RoleId[] };
  /** Its source is connected to Sentry's API: the card shows triage buttons. */
  connected: boolean;
  /** Nothing of it may notify (see `staysSilent`): what is posted (the card again, thread lines) is silent. */
  silent: boolean;
  /** Set when this edit probes a held channel. */
  probing?: Hold;
}

export type CardPlan = SendPlan | CardUpdatePlan | { waitUntil: number };

const changeFor = (prev: CardState | undefined, job: Job, payload = payloadOf(job)): CardChange =>
  applyEvent(prev, { type: job.eventType, payload, key: job.cardKey!, at: job.receivedAt, routeId: job.routeId });

const cardId = (job: Pick<Job, 'routeId' | 'cardKey'>) => `${job.routeId}:${job.cardKey}`;

/** The first waiting delivery of each card, in order: only these may go (a card's own events keep their order). */
function firstOfEachCard(jobs: readonly QueuedJob[]): QueuedJob[] {
  const seen = new Set<string>();
  return jobs.filter((job) => !seen.has(cardId(job)) && seen.add(cardId(job)));
}

/**
 * What to send next to a channel whose head is about a card (one message per Sentry issue or metric
 * alert incident, edited in place): new cards, or one card's edit. The decisions (gathering,
 * coalescing, moving a card down) are the policy's; card-update.ts carries an edit out. Every plan
 * that sends is claimed (see `claimPlan`).
 */
export class CardPlanner {
  constructor(private readonly deps: CardPlanDeps) {}

  /**
   * The next step for a channel whose oldest waiting delivery is about a card. Each card keeps its
   * events in order, but cards do not wait for one another: while one card's edit waits for its
   * coalescing second, a new card or another card's edit behind it may go.
   */
  async plan(channelId: ChannelId, now: number, options: { ignoreLinger?: boolean } = {}): Promise<CardPlan> {
    const { db } = this.deps;
    // Without bodies: most passes only find that the card must wait out its second.
    const queue = await queuedForChannel(db, channelId, LOOKAHEAD);
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
      // A batch already formed (a retry) goes again as it was, if it is still all cards' (otherwise
      // it goes as a feed message once it heads the channel).
      if (job.batchId) {
        // Read without bodies first: a flood summary's batch (thousands) is never a card's.
        const batch = await queuedInBatch(db, job.batchId);
        if (!batch[0]?.summary && batch.every(isCardJob)) return this.planBatch(channelId, await jobsOf(db, seqsOf(batch)), now);
        continue;
      }
      if (!card) {
        if (newCardsTried) continue;
        newCardsTried = true;
        const unsent = heads.filter((j) => !cards.has(cardId(j)) && !j.batchId && j.nextAttemptAt <= now);
        // A new card whose first events are still being sent from the channel its route left: after them.
        const elsewhere = await cardsSendingElsewhere(db, unsent, channelId);
        const fresh = unsent.filter((j) => !elsewhere.has(cardId(j)));
        if (fresh.length === 0) {
          earliest = Math.min(earliest, now + CARD_EDIT_EVERY_MS);
          continue;
        }
        const together = withinBytes(
          fresh[0]!.solo ? [fresh[0]!] : fresh.slice(0, EMBED_LIMITS.embedsPerMessage).filter((j, i) => i === 0 || !j.solo),
        );
        const waitUntil = options.ignoreLinger ? undefined : gatheringUntil(together, now, this.deps.batchLingerMs);
        if (waitUntil === undefined) return claimPlan(db, await planNewCards(db, channelId, await jobsOf(db, seqsOf(together)), now));
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
   * A batch of card events formed earlier (a retry, or a resend after a crash) goes again as it was
   * formed: one card's edit, or new cards under its nonce. A batch formed as a feed message before
   * its route became a card route may hold events of issues that have a card by now: those leave
   * the batch, each for its card's edit, and the rest go as new cards under the batch's nonce (if
   * Discord posted the feed message, it answers with it: nothing is shown twice).
   */
  async planBatch(channelId: ChannelId, batch: Job[], now: number): Promise<CardPlan> {
    const { db } = this.deps;
    const head = batch[0]!;
    const cards = await cardsOfKeys(db, batch);
    const card = cards.get(cardId(head));
    if (card && batch.every((job) => cardId(job) === cardId(head))) return this.planUpdate(head, card, now, batch);
    const edits = batch.filter((job) => cards.has(cardId(job)));
    await reform(db, seqsOf(edits));
    const fresh = batch.filter((job) => !cards.has(cardId(job)));
    if (fresh.length === 0) return { waitUntil: now };
    return claimPlan(db, await planNewCards(db, channelId, fresh, now, head.batchId!));
  }

  /**
   * An edit: the card's waiting events at once (several within a second are one edit), folded
   * into its state. When one of them needs eyes and the card would not be seen where it is (older
   * than CARD_BUMP_AFTER, or no longer among the channel's last 20 messages), it moves down.
   */
  private async planUpdate(head: QueuedJob, card: CardRow, now: number, formed?: Job[]): Promise<CardPlan> {
    const { db } = this.deps;
    // Its previous edit is still being sent from the channel the route posted to before a move: after that one.
    if (!formed && (await cardsSendingElsewhere(db, [head], head.channelId)).size > 0) return { waitUntil: now + CARD_EDIT_EVERY_MS };
    const jobs = formed ?? (await jobsOf(db, seqsOf(withinBytes(await queuedForCard(db, head.routeId, head.cardKey!, EVENTS_PER_EDIT)))));
    const route = (await routesByIds(db, [head.routeId])).get(head.routeId);
    // The route was removed since the queue was read.
    if (!route || jobs.length === 0) return { waitUntil: now };
    let state = JSON.parse(card.state) as CardState;
    const changes: CardChange[] = [];
    const levels: (Level | undefined)[] = [];
    const alertRoles = new Set<RoleId>();
    for (const [i, job] of jobs.entries()) {
      // A card under a storm of events folds them in slices, giving way to webhooks in between.
      if (i % FOLD_SLICE === FOLD_SLICE - 1) await letIngestIn();
      const payload = payloadOf(job);
      levels.push(eventFacts(job.eventType, payload).level);
      const change = changeFor(state, job, payload);
      changes.push(change);
      state = change.state;
      const alertRole = job.muted
        ? undefined
        : await acceptedAlertRole(db, job.sourceId, alertActionsOf(job.eventType, payload), job.routeId);
      if (alertRole) alertRoles.add(alertRole);
    }
    // A card left in the channel its route posted to before a move goes to where the route posts now.
    const bump =
      card.channelId !== head.channelId ||
      (await needsBump({
        attention: changes.some((c) => c.attention),
        postedAt: card.postedAt,
        now,
        bumpAfterMs: this.deps.bumpAfterMs,
        visible: () => this.visible(card),
      }));
    const last = jobs[jobs.length - 1]!;
    const rendered = renderEvent(last, await templateFor(db, last.sourceId, last.routeId, last.eventType));
    const quiet = quietNow(route, now);
    // Sentry's events that did not arrive in quiet hours (or passed them): only these may ping.
    const loud = jobs.filter((job) => !job.muted && !isOwnEvent(job.eventType));
    const pingJob = loud[loud.length - 1];
    const pingPart = pingJob === last ? rendered : pingJob && renderEvent(pingJob);
    const ping = pingPart
      ? withPing({ ...pingPart, content: undefined, allowedRoleIds: [] }, route)
      : { content: undefined, allowedRoleIds: [] };
    const connected = (await sourcesConnected(db, [head.sourceId])).has(head.sourceId);
    return claimPlan(db, {
      kind: 'card-update',
      channelId: head.channelId,
      batchId: head.batchId ?? newNonce(),
      batch: jobs,
      card,
      route,
      state,
      changes,
      bump,
      ...(rendered.templatePattern !== undefined ? { template: { embed: rendered.embeds[0]!, pattern: rendered.templatePattern } } : {}),
      details: threadDetails(jobs, changes),
      ...(ping.content ? { ping: { content: ping.content, roleIds: ping.allowedRoleIds } } : {}),
      ...(alertRoles.size > 0 ? { alertPing: { content: mentions([...alertRoles]), roleIds: [...alertRoles] } } : {}),
      connected,
      silent: staysSilent(jobs.map((job, i) => ({ muted: job.muted, eventType: job.eventType, level: levels[i], quietNow: quiet }))),
    });
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
}

/** What an edit adds to the card's thread besides its lines: the latest events worth reading in full (10 embeds at most). */
export function threadDetails(jobs: readonly EventToRender[], changes: readonly Pick<CardChange, 'detailed'>[]): APIEmbed[] {
  return jobs
    .filter((_, i) => changes[i]!.detailed)
    .slice(-EMBED_LIMITS.embedsPerMessage)
    .flatMap((job) => renderEvent(job).embeds);
}
