import { randomBytes } from 'node:crypto';
import { Routes, type APIEmbed, type APIMessage, type REST } from 'discord.js';

export interface OutgoingMessage {
  embeds: APIEmbed[];
  /** With enforce_nonce, Discord returns the earlier message instead of posting a second one. */
  nonce: string;
  content?: string;
  allowedRoleIds?: string[];
}

/** 20 random characters: Discord takes nonces of at most 25. */
export function newNonce(): string {
  return randomBytes(15).toString('base64url');
}

export type SendMessage = (channelId: string, message: OutgoingMessage) => Promise<{ id: string }>;

/** Posts through discord.js's REST client, which queues per route and waits out 429s itself. */
export function restSender(rest: REST): SendMessage {
  return async (channelId, message) => {
    const body = {
      embeds: message.embeds,
      ...(message.content ? { content: message.content } : {}),
      // Payload text must never ping: no user, role or @everyone mention unless a role is allowed explicitly.
      allowed_mentions: { parse: [], roles: message.allowedRoleIds ?? [] },
      nonce: message.nonce,
      enforce_nonce: true,
    };
    const posted = (await rest.post(Routes.channelMessages(channelId), { body })) as APIMessage;
    return { id: posted.id };
  };
}
