import type { APIEmbed } from 'discord.js';
import { isResolved } from '../cards/state.js';
import { cardEmbed, pointerContent, threadLines, threadName } from '../cards/embed.js';
import { cardMessage, saveCard, saveCardMessage, setThreadProblem, type SentCardMessage } from '../db/cards.js';
import type { Database } from '../db/database.js';
import { guildsOfSources } from '../db/sources.js';
import { CONTENT_LIMIT, EMBED_LIMITS, embedLength } from '../embed/limits.js';
import type { ChannelId, MessageId, RoleId } from '../ids.js';
import { truncate } from '../embed/text.js';
import { mentions } from '../routing/ping.js';
import type { Logger } from '../logger.js';
import { cardButtons } from '../triage/components.js';
import type { CardUpdatePlan } from './card-plan.js';
import { classifyFailure } from './classify-error.js';
import { DISCORD, discordCode, NO_ACCESS } from './discord-codes.js';
import { partsThatFit } from './policy.js';
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

/** A route's ping and an alert's, as one message's content. */
function mergePings(...pings: ({ content: string; roleIds: RoleId[] } | undefined)[]): { content: string; roleIds: RoleId[] } | undefined {
  const roleIds = [...new Set(pings.flatMap((p) => p?.roleIds ?? []))];
  return roleIds.length > 0 ? { content: mentions(roleIds), roleIds } : undefined;
}

function fits(embeds: readonly APIEmbed[]): boolean {
  return embeds.length <= EMBED_LIMITS.embedsPerMessage && embeds.reduce((n, e) => n + embedLength(e), 0) <= EMBED_LIMITS.total;
}

/** Carries a card's edit out in Discord: its thread lines, the card edited in place or posted again further down. */
export class CardUpdater {
  constructor(private readonly deps: CardUpdateDeps) {}

  /**
   * Carries out an edit in Discord: the lines in the card's thread, the card edited in place (or
   * posted again further down, leaving a pointer), a thread started on the first follow-up. Every
   * step can be repeated after a crash: an edit sends the whole card, a message has one thread,
   * and posts carry nonces drawn from the batch id. The caller records the result.
   */
  async carryOut(plan: CardUpdatePlan): Promise<CardUpdateDone> {
    const { db, discord } = this.deps;
    const { card, route, channelId, batchId } = plan;
    const message = (await cardMessage(db, card.messageId)) ?? { embeds: [], content: null, components: [] };
    // A card of its own shows its buttons for its state now; a shared message keeps its menu of issues.
    const ownButtons = cardButtons(plan.state, { routeId: card.routeId, connected: plan.connected });
    const threadsAllowed = () => !card.shared && !route.threadProblem;
    let threadId = card.threadId;
    let linesPosted = false;
    // An alert's ping must notify: with no thread to carry it, the card is posted again with it (below).
    let moved = plan.bump;
    // Whether the alert's ping went out already (with the lines in the thread).
    let alertPinged = false;

    if (threadId && threadsAllowed()) {
      const outcome = await this.postLines(plan, threadId, true);
      // The thread was deleted, or archived and locked: the card starts over further down, with a fresh thread.
      if (outcome === 'gone') [threadId, moved] = [null, true];
      linesPosted = outcome === 'posted';
      alertPinged = linesPosted;
    }
    if (!moved && !threadId && threadsAllowed()) {
      const started = await this.ensureThread(plan, card.messageId);
      if (started === 'message gone') moved = true;
      else threadId = started;
    }
    // Threads turned out not to be allowed here: the alert's ping goes with the card, posted again.
    if (plan.alertPing && !alertPinged && !threadsAllowed()) moved = true;
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
        const code = discordCode(error);
        if (code !== DISCORD.UNKNOWN_MESSAGE && code !== DISCORD.EDIT_CAP) throw error;
        this.deps.logger.info(
          { channel_id: channelId, card_key: card.cardKey, code },
          'the card cannot be edited any more; posting it again',
        );
        moved = true;
      }
    }
    let messageId = card.messageId;
    let pointer: SentCardMessage | undefined;
    const repostPing = moved ? mergePings(plan.ping, alertPinged ? undefined : plan.alertPing) : undefined;
    if (moved) {
      // Without a thread yet, one is started from the new card, so its history is not drawn on it.
      embeds = [drawCard(!threadsAllowed())];
      messageId = (
        await discord.post(channelId, {
          embeds,
          nonce: batchId,
          content: repostPing?.content,
          allowedRoleIds: repostPing?.roleIds,
          components: ownButtons,
          silent: plan.silent,
        })
      ).id;
      alertPinged ||= repostPing !== undefined;
      const sourceId = plan.batch[0]!.sourceId;
      const guildId = (await guildsOfSources(db, [sourceId])).get(sourceId) ?? '@me';
      pointer = await this.leavePointer(plan, message, `https://discord.com/channels/${guildId}/${channelId}/${messageId}`);
      if (!threadId && threadsAllowed()) {
        const started = await this.ensureThread(plan, messageId);
        threadId = started === 'message gone' ? null : started;
      }
    }
    if (threadId && threadsAllowed() && !linesPosted) await this.postLines(plan, threadId, !alertPinged);

    const final = {
      threadId,
      messageId,
      moved,
      embeds,
      pointer,
      content: moved ? (repostPing?.content ?? null) : message.content,
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
        if (final.pointer) await saveCardMessage(tx, { messageId: card.messageId, channelId: card.channelId, ...final.pointer }, at);
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
      await this.deps.discord.edit(card.channelId, card.messageId, {
        embeds: pointer.embeds,
        components: pointer.components,
        ...(pointer.content !== null ? { content: pointer.content } : {}),
      });
      return pointer;
    } catch (error) {
      // Discord out of reach or failing for now: the whole step is tried again (the card posted
      // again comes back under its nonce), so that the old card does not stay claiming a state.
      if (classifyFailure(error).kind === 'transient') throw error;
      // Past Discord's edit cap, the old card would go on claiming a state the new one has left: a
      // card of its own is deleted instead (the bot's own message; its thread stays). A message
      // that is gone, or shared with other cards, is left as it is.
      if (discordCode(error) === DISCORD.EDIT_CAP && !card.shared) await this.removeOldCard(plan);
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

  /**
   * The card's thread, started from its message on the first follow-up. Missing permissions turn
   * threads off for the route (with the reason, shown by `info`); a deleted message means the card
   * must be posted again.
   */
  private async ensureThread(plan: CardUpdatePlan, messageId: MessageId): Promise<ChannelId | null | 'message gone'> {
    try {
      return (await this.deps.discord.startThread(plan.channelId, messageId, threadName(plan.state))).id;
    } catch (error) {
      const code = discordCode(error);
      if (code === DISCORD.UNKNOWN_MESSAGE) return 'message gone';
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
  private async postLines(plan: CardUpdatePlan, threadId: ChannelId, withAlertPing: boolean): Promise<'posted' | 'gone' | 'unavailable'> {
    // Sentry's echo of a change made from Discord adds nothing: its line is already there.
    const lines = plan.changes.flatMap((c, i) => (c.silent ? [] : [{ text: c.line, at: plan.batch[i]!.receivedAt }]));
    if (lines.length === 0) return 'posted';
    const ping = withAlertPing ? plan.alertPing : undefined;
    const content = truncate([ping?.content, threadLines(lines)].filter(Boolean).join('\n'), CONTENT_LIMIT);
    const embeds = plan.details.slice(0, partsThatFit(plan.details.map((e) => ({ embeds: [e] }))));
    // Its own nonce: the card's post in the channel carries the batch id itself.
    const post = () =>
      this.deps.discord.post(threadId, {
        content,
        embeds,
        nonce: `${plan.batchId}:t`,
        silent: plan.silent,
        ...(ping ? { allowedRoleIds: ping.roleIds } : {}),
      });
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
