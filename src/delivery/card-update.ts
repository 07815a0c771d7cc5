import { pointerContent } from '../cards/embed.js';
import { cardMessage, saveCard, saveCardMessage, type SentCardMessage } from '../db/cards.js';
import type { Database } from '../db/database.js';
import { guildsOfSources } from '../db/sources.js';
import type { MessageId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { CardUpdatePlan } from './card-plan.js';
import {
  afterItsThread,
  afterThreadStart,
  cannotEditInPlace,
  cardInPlace,
  cardPostedAgain,
  editRecord,
  editStart,
  mustPostAgain,
  NO_MESSAGE,
  pointerFailure,
  pointerMessage,
  repostPing,
  threadsAllowed,
  type EditProgress,
  type PlacedCard,
} from './card-edit-rules.js';
import { CardThreads } from './card-thread.js';
import { discordCode } from './discord-codes.js';
import type { DiscordChannels } from './sender.js';

export interface CardUpdateDeps {
  db: Database;
  discord: DiscordChannels;
  logger: Logger;
}

/** A card update carried out in Discord, and what to record of it (in the transaction that marks its events delivered). */
export interface CardUpdateDone {
  messageId: MessageId;
  record: (tx: Database, at: number) => Promise<void>;
}

/**
 * Carries a card's edit out in Discord: its thread lines, the card edited in place or posted again
 * further down. The decisions are card-edit-rules.ts's (pure); the thread's requests card-thread.ts's.
 */
export class CardUpdater {
  private readonly threads: CardThreads;

  constructor(private readonly deps: CardUpdateDeps) {
    this.threads = new CardThreads(deps);
  }

  /**
   * Carries out an edit in Discord, in named steps, each handing on how far it got (EditProgress):
   * 1. the lines go to the thread the card has (with the alert's ping); a thread gone moves the card down;
   * 2. the first follow-up starts a thread from the card where it is;
   * 3. the card is edited in place, unless it must move down (mustPostAgain) or Discord will not
   *    take the edit (deleted, 10008; past the edit cap, 30046);
   * 4. otherwise it is posted again further down, a pointer is left where it was, and it gets a thread;
   * 5. the lines not posted yet go to its thread.
   * An edit notifies nobody; what is posted (the card again, thread lines) carries the pings and is
   * silent when the plan is (quiet hours). Every step can be repeated after a crash: an edit sends the whole card, a message has one
   * thread, and posts carry nonces drawn from the batch id. The caller records the result.
   */
  async carryOut(plan: CardUpdatePlan): Promise<CardUpdateDone> {
    const message = (await cardMessage(this.deps.db, plan.card.messageId)) ?? NO_MESSAGE;
    let progress = await this.linesToItsThread(plan, editStart(plan));
    progress = await this.threadOnFirstFollowUp(plan, progress);
    const inPlace = cardInPlace(plan, message, progress);
    const edited = mustPostAgain(plan, progress, inPlace.embeds) ? undefined : await this.editInPlace(plan, inPlace, progress);
    const { placed, progress: after } = edited ? { placed: edited, progress } : await this.postAgain(plan, message, progress);
    await this.remainingLines(plan, after);
    return {
      messageId: placed.messageId,
      record: async (tx, at) => {
        const { card, messages } = editRecord(plan, placed, at);
        await saveCard(tx, card);
        for (const sent of messages) await saveCardMessage(tx, sent, at);
      },
    };
  }

  /** Step 1: the edit's lines in the thread the card has, with the alert's ping. */
  private async linesToItsThread(plan: CardUpdatePlan, progress: EditProgress): Promise<EditProgress> {
    if (!progress.threadId || !threadsAllowed(plan)) return progress;
    return afterItsThread(progress, await this.threads.postLines(plan, progress.threadId, true));
  }

  /** Step 2: a card staying where it is, with no thread yet, gets one from its message. */
  private async threadOnFirstFollowUp(plan: CardUpdatePlan, progress: EditProgress): Promise<EditProgress> {
    if (progress.repost || progress.threadId || !threadsAllowed(plan)) return progress;
    return afterThreadStart(progress, await this.threads.start(plan, plan.card.messageId));
  }

  /** Step 3: the card edited where it is; undefined when Discord will not take the edit, and the card is posted again instead. */
  private async editInPlace(plan: CardUpdatePlan, inPlace: SentCardMessage, progress: EditProgress): Promise<PlacedCard | undefined> {
    const { card, channelId } = plan;
    try {
      await this.deps.discord.edit(channelId, card.messageId, { embeds: inPlace.embeds, components: inPlace.components });
    } catch (error) {
      if (!cannotEditInPlace(error)) throw error;
      const code = discordCode(error);
      this.deps.logger.info(
        { channel_id: channelId, card_key: card.cardKey, code },
        'the card cannot be edited any more; posting it again',
      );
      return undefined;
    }
    return { messageId: card.messageId, moved: false, message: inPlace, threadId: progress.threadId };
  }

  /** Step 4: the card posted again further down (with the pings an edit could not give), a pointer where it was, and its thread. */
  private async postAgain(
    plan: CardUpdatePlan,
    message: SentCardMessage,
    progress: EditProgress,
  ): Promise<{ placed: PlacedCard; progress: EditProgress }> {
    const { channelId } = plan;
    const ping = repostPing(plan, progress.alertPinged);
    const again = cardPostedAgain(plan, progress.threadId, ping);
    const { id: messageId } = await this.deps.discord.post(channelId, {
      embeds: again.embeds,
      nonce: plan.batchId,
      content: ping?.content,
      allowedRoleIds: ping?.roleIds,
      components: again.components,
      silent: plan.silent,
    });
    const pointer = await this.leavePointer(plan, message, await this.messageUrl(plan, messageId));
    let next: EditProgress = { ...progress, alertPinged: progress.alertPinged || ping !== undefined };
    if (!next.threadId && threadsAllowed(plan)) {
      const started = await this.threads.start(plan, messageId);
      next = { ...next, threadId: started === 'message gone' ? null : started };
    }
    return { placed: { messageId, moved: true, message: again, pointer, threadId: next.threadId }, progress: next };
  }

  /** Step 5: the lines, when the card's thread did not have them yet (started by this edit), with the alert's ping unless it went out. */
  private async remainingLines(plan: CardUpdatePlan, progress: EditProgress): Promise<void> {
    if (progress.threadId && threadsAllowed(plan) && !progress.linesPosted)
      await this.threads.postLines(plan, progress.threadId, !progress.alertPinged);
  }

  private async messageUrl(plan: CardUpdatePlan, messageId: MessageId): Promise<string> {
    const sourceId = plan.batch[0]!.sourceId;
    const guildId = (await guildsOfSources(this.deps.db, [sourceId])).get(sourceId) ?? '@me';
    return `https://discord.com/channels/${guildId}/${plan.channelId}/${messageId}`;
  }

  /** The old place of a card that moved: a pointer to the new one (pointerFailure says what happens when that fails). */
  private async leavePointer(plan: CardUpdatePlan, message: SentCardMessage, newUrl: string): Promise<SentCardMessage | undefined> {
    const { card } = plan;
    const pointer = pointerMessage(message, card, pointerContent(plan.state, newUrl));
    try {
      await this.deps.discord.edit(card.channelId, card.messageId, {
        embeds: pointer.embeds,
        components: pointer.components,
        ...(pointer.content !== null ? { content: pointer.content } : {}),
      });
      return pointer;
    } catch (error) {
      const next = pointerFailure(error, card.shared);
      if (next === 'try again') throw error;
      if (next === 'delete the old card') await this.removeOldCard(plan);
      else this.deps.logger.info({ err: error, channel_id: plan.channelId }, 'could not leave a pointer where the card was');
      return undefined;
    }
  }

  private async removeOldCard(plan: CardUpdatePlan): Promise<void> {
    try {
      await this.deps.discord.remove(plan.card.channelId, plan.card.messageId);
      this.deps.logger.info({ channel_id: plan.channelId, card_key: plan.card.cardKey }, 'the old card could not be edited: deleted it');
    } catch (error) {
      if (discordCode(error) === undefined) throw error;
      this.deps.logger.info({ err: error, channel_id: plan.channelId }, 'could not delete the old card either: it stays as it was');
    }
  }
}
