import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { DeliverySeq } from '../ids.js';

/**
 * `dm_sent`: which delivery tells a member of a Sentry change (src/people/dm-once.ts). Claimed by
 * the send, never by the webhook's transaction; pruned by housekeeping.
 */

/** A member's DM about to be sent: its change's key (hashed), when its copy arrived, and the delivery. */
export interface DmClaim {
  key: string;
  receivedAt: number;
  deliverySeq: DeliverySeq;
}

/**
 * Claims a DM's change for its delivery: resolves true when this delivery is the one to send it.
 * Unclaimed, claimed by this very delivery (its retry, a resend after a restart), or claimed by a
 * copy that arrived more than `windowMs` before this one (a change that reads the same again is
 * news): taken. Claimed by another delivery within the window (another source's copy, sent or on
 * its way, by this replica or another): false. The unique key decides between two sends at once;
 * nothing is deleted here (housekeeping prunes, `pruneDmClaims`).
 */
export async function claimDm(db: Database, claim: DmClaim, windowMs: number): Promise<boolean> {
  const row = await db.get<{ dm_key: string }>(sql`
    insert into dm_sent (dm_key, received_at, delivery_seq) values (${claim.key}, ${claim.receivedAt}, ${claim.deliverySeq})
    on conflict (dm_key) do update set received_at = excluded.received_at, delivery_seq = excluded.delivery_seq
      where dm_sent.delivery_seq = excluded.delivery_seq or dm_sent.received_at <= excluded.received_at - ${windowMs}
    returning dm_key`);
  return row !== undefined;
}

/** Claims of copies that arrived before `olderThan` go (housekeeping): one statement, off the send's path. */
export async function pruneDmClaims(db: Database, olderThan: number): Promise<void> {
  await db.run(sql`delete from dm_sent where received_at < ${olderThan}`);
}
