import { createHash } from 'node:crypto';
import type { Database } from '../db/database.js';
import { claimDm, type DmClaimOutcome } from '../db/dm-sent.js';
import type { Job } from '../db/queue.js';
import type { MemberLink } from '../db/schema.js';
import { parsePayload } from '../sentry/payload.js';
import { dmKindOf, dmOnceKey } from './dm-select.js';

/**
 * One DM per member per Sentry change, however many sources receive it: each integration of an
 * organization gets its own copy of Sentry's webhook, and each copy writes its DM (in this server,
 * or in another where the member linked too). The first copy whose send can go (its checks passed:
 * the member still linked and in that server, its source live) claims the change just before its
 * request; the others find it claimed and are not sent. Claimed at the send, not when stored: a
 * copy that turns out unable to reach the member (they left that server, its source was deleted)
 * never stands in for one that can.
 */

/**
 * How long a Sentry change is told once to a member: the copies of Sentry's webhook each of its
 * integrations gets arrive within seconds of each other; a change that reads the same after this
 * long (the issue assigned to them once more by the same person) is news again. Measured between
 * the copies' arrivals, not their sends: a copy that waited (its source disabled a while) is still
 * the same change.
 */
export const DM_ONCE_WINDOW_MS = 2 * 60_000;

/**
 * How long a claim is kept (housekeeping deletes it after): a copy that waited (kept in a replica's
 * spool while Postgres was away, its source disabled) and is sent within this long still finds its
 * sibling's claim.
 */
export const DM_CLAIMS_KEPT_MS = 24 * 3_600_000;

/** The stored form of a DM's key: fixed length, and no member or Sentry id in clear in the table. */
const dmKeyHash = (key: string) => createHash('sha256').update(key).digest('hex');

/** What of a DM's delivery names its change: its event, and the copy's arrival. */
export type DmJob = Pick<Job, 'seq' | 'eventType' | 'body' | 'cardKey' | 'arrivedAt'>;

/** What of the member's link names them: their Discord user, their Sentry and who they are there. */
export type DmLink = Pick<MemberLink, 'userId' | 'sentryBaseUrl' | 'sentryOrg' | 'sentryUserId'>;

/**
 * A DM's change to its member as `dm_sent` keys it, recomputed at the send from its event's payload
 * and the member's link (the link matched the change's subject when the DM was written), so no
 * delivery carries it. Undefined when the body names no DM (nothing to tell apart).
 */
export function dmSentKey(job: Pick<DmJob, 'eventType' | 'body' | 'cardKey'>, link: DmLink): string | undefined {
  let payload: unknown;
  try {
    payload = parsePayload(job.body);
  } catch {
    return undefined;
  }
  const kind = dmKindOf(job.eventType, payload);
  if (!kind) return undefined;
  const recipient = { userId: link.userId, baseUrl: link.sentryBaseUrl, org: link.sentryOrg };
  const event = { type: job.eventType, payload, ...(job.cardKey === null ? {} : { cardKey: job.cardKey }) };
  return dmKeyHash(dmOnceKey(recipient, event, { kind, sentryUserId: link.sentryUserId }));
}

/**
 * Whether this delivery is the one that tells its member of its change: claims it, after the send's
 * checks passed and just before its request. `told` when another delivery (another source's copy)
 * told them within the window: this one is not sent; `wait` while that other one is still on its
 * way (it may yet fail for good: then this one takes the claim over). Its own retry claims again.
 */
export async function claimDmOnce(db: Database, job: DmJob, link: DmLink): Promise<DmClaimOutcome> {
  const key = dmSentKey(job, link);
  return key === undefined ? 'claimed' : claimDm(db, { key, receivedAt: job.arrivedAt, deliverySeq: job.seq }, DM_ONCE_WINDOW_MS);
}

/**
 * How long a DM waits for the copy that claimed its change to be sent (or to fail for good) before
 * it looks again: each look is a send planned again (its drawing, the member check against Discord).
 */
export const DM_CLAIM_WAIT_MS = 30_000;
