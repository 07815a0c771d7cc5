import { LimitedEmbedBuilder } from '../embed/builder.js';
import { COLORS } from '../embed/colors.js';
import type { Formatter } from '../sentry/formatters/types.js';
import { ownEventType } from '../own-events.js';

/** The event that carries a digest to its channel: made once (see digest-scheduler.ts), its text inside. */
export const DIGEST_EVENT_TYPE = ownEventType('digest');

export interface DigestPayload {
  action: 'digest';
  data: { title: string; description: string; kind: 'quiet' | 'scheduled' | 'now' };
}

/**
 * A digest's embed is written when the digest is made, so that a resend after a crash shows the
 * same text under the same nonce; this only draws it (within Discord's limits, like any embed).
 */
export const digestFormatter: Formatter = (event) => {
  const data = (event.payload as Partial<DigestPayload> | null)?.data;
  return new LimitedEmbedBuilder()
    .setTitle(typeof data?.title === 'string' ? data.title : 'Digest')
    .setDescription(typeof data?.description === 'string' ? data.description : undefined)
    .setColor(COLORS.blue);
};
