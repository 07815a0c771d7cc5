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
 * What a claim found: this delivery is the one to send (`claimed`); another delivery told the
 * member (`told`: this one is not sent); or another delivery holds the claim and is still on its way
 * (`wait`: this one waits, to be sent if that one fails for good, not sent once it went).
 */
export type DmClaimOutcome = 'claimed' | 'told' | 'wait';

/**
 * Claims a DM's change for its delivery. Taken when unclaimed, claimed by this very delivery (its
 * retry, a resend after a restart), claimed by a copy that arrived more than `windowMs` before this
 * one (a change that reads the same again is news), or claimed by a delivery that will not tell
 * the member after all (not `STILL_TELLS`: failed for good, or waiting on a source disabled or
 * deleted, or a route removed; one no longer stored is taken to have told them).
 * Claimed by another delivery within the window: `told` once that one was delivered, `wait` while it
 * is on its way. The unique key decides between two sends at once;
 * nothing is deleted here (housekeeping prunes, `pruneDmClaims`).
 */
export async function claimDm(db: Database, claim: DmClaim, windowMs: number): Promise<DmClaimOutcome> {
  const row = await db.get<{ dm_key: string }>(sql`
    insert into dm_sent (dm_key, received_at, delivery_seq) values (${claim.key}, ${claim.receivedAt}, ${claim.deliverySeq})
    on conflict (dm_key) do update set received_at = excluded.received_at, delivery_seq = excluded.delivery_seq
      where dm_sent.delivery_seq = excluded.delivery_seq or dm_sent.received_at <= excluded.received_at - ${windowMs}
        or exists (select 1 from deliveries d where d.seq = dm_sent.delivery_seq and not ${STILL_TELLS})
    returning dm_key`);
  if (row !== undefined) return 'claimed';
  const holder = await db.get<{ status: string | null }>(sql`
    select d.status from dm_sent s left join deliveries d on d.seq = s.delivery_seq where s.dm_key = ${claim.key}`);
  // A claimer no longer stored (pruned, or purged with its deleted source) most likely told the member already.
  return holder?.status === 'pending' || holder?.status === 'sending' ? 'wait' : 'told';
}

/**
 * The claiming delivery `d` told the member, or still will: delivered; being sent (a send under way
 * finishes, whatever happened to its source since); or waiting on a source that is enabled and not
 * deleted, on a route not removed. Otherwise (failed, dropped, waiting on a disabled or deleted
 * source) another copy takes the claim over.
 */
const STILL_TELLS = sql`(d.status in ('delivered', 'sending') or (d.status = 'pending' and exists (
  select 1 from routes r join sources s on s.id = r.source_id
  where r.id = d.route_id and r.removed_at is null and s.deleted_at is null and s.enabled)))`;

/** Claims of copies that arrived before `olderThan` go (housekeeping): one statement, off the send's path. */
export async function pruneDmClaims(db: Database, olderThan: number): Promise<void> {
  await db.run(sql`delete from dm_sent where received_at < ${olderThan}`);
}
