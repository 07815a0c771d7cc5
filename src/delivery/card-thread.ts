import { threadName } from '../cards/embed.js';
import { setThreadProblem } from '../db/cards.js';
import type { Database } from '../db/database.js';
import type { ChannelId, MessageId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { CardUpdatePlan } from './card-plan.js';
import { threadMessage, type ThreadPostOutcome } from './card-edit-rules.js';
import { DISCORD, discordCode, NO_ACCESS } from './discord-codes.js';
import type { DiscordChannels } from './sender.js';

/**
 * A card's thread in Discord: started from its message on the first follow-up, and given each
 * edit's lines. Missing permissions turn threads off for the route (with the reason, shown by
 * `info`; plan.route is updated too, so the rest of the edit sees it); the steps that find a
 * message or thread gone say so, and the card is posted again.
 */
export class CardThreads {
  constructor(
    private readonly deps: { db: Database; discord: Pick<DiscordChannels, 'post' | 'startThread' | 'unarchive'>; logger: Logger },
  ) {}

  /** The card's thread, started from `messageId`: null when the bot may not start threads here. */
  async start(plan: CardUpdatePlan, messageId: MessageId): Promise<ChannelId | null | 'message gone'> {
    try {
      return (await this.deps.discord.startThread(plan.channelId, messageId, threadName(plan.state))).id;
    } catch (error) {
      const code = discordCode(error);
      if (code === DISCORD.UNKNOWN_MESSAGE) return 'message gone';
      if (code === undefined || !NO_ACCESS.has(code)) throw error;
      await this.unavailable(plan, `the bot lacks Create Public Threads in <#${plan.channelId}>: history is shown on the cards instead`);
      return null;
    }
  }

  /**
   * The edit's message in the thread (threadMessage). Posting unarchives an archived thread; a
   * locked one is unarchived first, and if that fails too the thread is `gone`, like a deleted one.
   */
  async postLines(plan: CardUpdatePlan, threadId: ChannelId, withAlertPing: boolean): Promise<ThreadPostOutcome> {
    const message = threadMessage(plan, withAlertPing);
    if (!message) return 'posted';
    const post = () => this.deps.discord.post(threadId, message);
    try {
      await post();
      return 'posted';
    } catch (error) {
      const code = discordCode(error);
      if (code === DISCORD.UNKNOWN_CHANNEL) return 'gone';
      if (code === DISCORD.THREAD_ARCHIVED) {
        try {
          await this.deps.discord.unarchive(threadId);
        } catch (unarchiveError) {
          if (discordCode(unarchiveError) === undefined) throw unarchiveError;
          this.deps.logger.info({ err: unarchiveError, thread_id: threadId }, 'the card thread is locked; starting a fresh one');
          return 'gone';
        }
        await post();
        return 'posted';
      }
      if (code !== undefined && NO_ACCESS.has(code)) {
        await this.unavailable(
          plan,
          `the bot lacks Send Messages in Threads in <#${plan.channelId}>: history is shown on the cards instead`,
        );
        return 'unavailable';
      }
      throw error;
    }
  }

  private async unavailable(plan: CardUpdatePlan, reason: string): Promise<void> {
    this.deps.logger.warn({ route_id: plan.route.id, reason }, 'card threads are not available');
    await setThreadProblem(this.deps.db, plan.route.id, reason);
    plan.route.threadProblem = reason;
  }
}
