import { randomBytes } from 'node:crypto';
import { DiscordAPIError, Routes, type APIEmbed, type APIMessage, type REST } from 'discord.js';
import type { ActionRow } from '../triage/components.js';

export interface OutgoingMessage {
  embeds: APIEmbed[];
  /** With enforce_nonce, Discord returns the earlier message instead of posting a second one. */
  nonce: string;
  content?: string;
  allowedRoleIds?: string[];
  /** Buttons or a menu (links to Sentry, triage). */
  components?: ActionRow[];
}

/** 20 random characters: Discord takes nonces of at most 25. */
export function newNonce(): string {
  return randomBytes(15).toString('base64url');
}

export type SendMessage = (channelId: string, message: OutgoingMessage) => Promise<{ id: string }>;

/** What delivery does in Discord channels: post, and for cards edit, start threads and look at what came after. */
export interface DiscordChannels {
  post: SendMessage;
  /** Replaces a message's embeds and components (and content, when given): it always sends the whole message, so it is safe to repeat. */
  edit(channelId: string, messageId: string, message: { embeds: APIEmbed[]; content?: string; components?: ActionRow[] }): Promise<void>;
  /** The thread started from a message (one per message: if it exists, that one). Its id is the message's. */
  startThread(channelId: string, messageId: string, name: string): Promise<{ id: string }>;
  /** How many messages (up to `limit`) were posted in the channel after this one. */
  countNewer(channelId: string, afterMessageId: string, limit: number): Promise<number>;
  /** Takes a thread out of the archive (posting in it would, but editing cannot). */
  unarchive(threadId: string): Promise<void>;
}

/** A thread has already been created for this message. */
const THREAD_EXISTS = 160004;
/** Threads archive after a week without a message (the longest Discord offers to every server). */
const ARCHIVE_AFTER_MINUTES = 10080;
/** Payload text must never ping: no user, role or @everyone mention unless a role is allowed explicitly. */
const noPings = (roles: string[] = []) => ({ parse: [], roles });

/** Discord through discord.js's REST client, which queues per route and waits out 429s itself. */
export function restChannels(rest: REST): DiscordChannels {
  return {
    async post(channelId, message) {
      const body = {
        embeds: message.embeds,
        ...(message.content ? { content: message.content } : {}),
        ...(message.components?.length ? { components: message.components } : {}),
        allowed_mentions: noPings(message.allowedRoleIds),
        nonce: message.nonce,
        enforce_nonce: true,
      };
      const posted = (await rest.post(Routes.channelMessages(channelId), { body })) as APIMessage;
      return { id: posted.id };
    },
    async edit(channelId, messageId, message) {
      const body = {
        embeds: message.embeds,
        ...(message.content !== undefined ? { content: message.content } : {}),
        ...(message.components !== undefined ? { components: message.components } : {}),
        allowed_mentions: noPings(),
      };
      await rest.patch(Routes.channelMessage(channelId, messageId), { body });
    },
    async startThread(channelId, messageId, name) {
      try {
        const thread = (await rest.post(Routes.threads(channelId, messageId), {
          body: { name, auto_archive_duration: ARCHIVE_AFTER_MINUTES },
        })) as { id: string };
        return { id: thread.id };
      } catch (error) {
        if (error instanceof DiscordAPIError && error.code === THREAD_EXISTS) return { id: messageId };
        throw error;
      }
    },
    async countNewer(channelId, afterMessageId, limit) {
      const query = new URLSearchParams({ after: afterMessageId, limit: String(limit) });
      return ((await rest.get(Routes.channelMessages(channelId), { query })) as unknown[]).length;
    },
    async unarchive(threadId) {
      await rest.patch(Routes.channel(threadId), { body: { archived: false } });
    },
  };
}
