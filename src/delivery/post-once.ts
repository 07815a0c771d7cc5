import type { RenderedEvent } from '../render/render-event.js';
import { classifyFailure } from './classify-error.js';
import { newNonce, type SendMessage } from './sender.js';
import type { ChannelId } from '../ids.js';

/**
 * Posts one rendered event now, outside the queue (what `/dispatch source test` does), and says
 * why in Discord's words when it is refused. Nothing is stored and nothing is retried.
 */
export async function postOnce(
  send: SendMessage,
  channelId: ChannelId,
  part: RenderedEvent,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await send(channelId, { embeds: part.embeds, nonce: newNonce(), content: part.content, allowedRoleIds: part.allowedRoleIds });
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: classifyFailure(error).reason };
  }
}
