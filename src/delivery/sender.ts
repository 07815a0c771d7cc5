import { randomBytes } from 'node:crypto';
import { MessageFlags, Routes, type APIEmbed, type APIMessage, type REST } from 'discord.js';
import { asBatchId, asChannelId, asMessageId, type BatchId, type ChannelId, type MessageId, type RoleId } from '../ids.js';
import type { ActionRow } from '../triage/components.js';
import { DISCORD, discordCode, DiscordUnreachable, isDiscordFailure } from './discord-codes.js';

export interface OutgoingMessage {
  embeds: APIEmbed[];
  /** With enforce_nonce, Discord returns the earlier message instead of posting a second one. */
  nonce: string;
  content?: string;
  allowedRoleIds?: RoleId[];
  /** Buttons or a menu (links to Sentry, triage). */
  components?: ActionRow[];
  /** Posted without a push or desktop notification (quiet hours): Discord's SUPPRESS_NOTIFICATIONS. */
  silent?: boolean;
}

/** 20 random characters: Discord takes nonces of at most 25. */
export function newNonce(): BatchId {
  return asBatchId(randomBytes(15).toString('base64url'));
}

export type SendMessage = (channelId: ChannelId, message: OutgoingMessage) => Promise<{ id: MessageId }>;

/** What delivery does in Discord channels: post, and for cards edit, start threads and look at what came after. */
export interface DiscordChannels {
  post: SendMessage;
  /** Replaces a message's embeds and components (and content, when given): it always sends the whole message, so it is safe to repeat. */
  edit(
    channelId: ChannelId,
    messageId: MessageId,
    message: { embeds: APIEmbed[]; content?: string; components?: ActionRow[] },
  ): Promise<void>;
  /** The thread started from a message (one per message: if it exists, that one). Its id is the message's. */
  startThread(channelId: ChannelId, messageId: MessageId, name: string): Promise<{ id: ChannelId }>;
  /** How many messages (up to `limit`) were posted in the channel after this one. */
  countNewer(channelId: ChannelId, afterMessageId: MessageId, limit: number): Promise<number>;
  /** Takes a thread out of the archive (posting in it would, but editing cannot). */
  unarchive(threadId: ChannelId): Promise<void>;
  /** Deletes one of the bot's own messages (a thread started from it stays). */
  remove(channelId: ChannelId, messageId: MessageId): Promise<void>;
}

/** Threads archive after a week without a message (the longest Discord offers to every server). */
const ARCHIVE_AFTER_MINUTES = 10080;
/** Payload text must never ping: no user, role or @everyone mention unless a role is allowed explicitly. */
const noPings = (roles: RoleId[] = []) => ({ parse: [], roles });

/**
 * One request to Discord. Whatever goes wrong on the way that is not Discord's own answer (a reset,
 * a timeout, DNS) is Discord out of reach: it is wrapped so that the delivery policy can tell it
 * from a failure of Dispatch's own.
 */
async function request<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw isDiscordFailure(error) ? error : new DiscordUnreachable(error);
  }
}

/** Discord through discord.js's REST client, which queues per route and waits out 429s itself. */
export function restChannels(rest: REST): DiscordChannels {
  return {
    async post(channelId, message) {
      const body = {
        embeds: message.embeds,
        ...(message.content ? { content: message.content } : {}),
        ...(message.components?.length ? { components: message.components } : {}),
        allowed_mentions: noPings(message.allowedRoleIds),
        ...(message.silent ? { flags: MessageFlags.SuppressNotifications } : {}),
        nonce: message.nonce,
        enforce_nonce: true,
      };
      const posted = await request(() => rest.post(Routes.channelMessages(channelId), { body }) as Promise<APIMessage>);
      return { id: asMessageId(posted.id) };
    },
    async edit(channelId, messageId, message) {
      const body = {
        embeds: message.embeds,
        ...(message.content !== undefined ? { content: message.content } : {}),
        ...(message.components !== undefined ? { components: message.components } : {}),
        allowed_mentions: noPings(),
      };
      await request(() => rest.patch(Routes.channelMessage(channelId, messageId), { body }));
    },
    async startThread(channelId, messageId, name) {
      try {
        const thread = await request(
          () =>
            rest.post(Routes.threads(channelId, messageId), {
              body: { name, auto_archive_duration: ARCHIVE_AFTER_MINUTES },
            }) as Promise<{ id: string }>,
        );
        return { id: asChannelId(thread.id) };
      } catch (error) {
        // A thread has already been created for this message: it is that one.
        if (discordCode(error) === DISCORD.THREAD_EXISTS) return { id: asChannelId(messageId) };
        throw error;
      }
    },
    async countNewer(channelId, afterMessageId, limit) {
      const query = new URLSearchParams({ after: afterMessageId, limit: String(limit) });
      return (await request(() => rest.get(Routes.channelMessages(channelId), { query }) as Promise<unknown[]>)).length;
    },
    async unarchive(threadId) {
      await request(() => rest.patch(Routes.channel(threadId), { body: { archived: false } }));
    },
    async remove(channelId, messageId) {
      await request(() => rest.delete(Routes.channelMessage(channelId, messageId)));
    },
  };
}
