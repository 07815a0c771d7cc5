import { sql } from 'drizzle-orm';
import type { BatchId, ChannelId, DeliverySeq } from '../../ids.js';
import type { DeliveryStatus } from './states.js';

/**
 * Rows one bounded statement touches at most, so a step stays short whatever the backlog. Each deleted or moved delivery updates six indexes: 500 a step
 * took 28 ms on a database of 100,000 events and up to 197 ms on one of 400,000 (bench section 14,
 * a route's purge); 200 keep a step within the 50 ms budget there.
 */
export const STEP_ROWS = 200;

/**
 * The guard on a delivery's status beside `seq in (…)`, written so that SQLite finds the rows by
 * their seq: given a plain `status = …` it walked every delivery of that status through the queue
 * index instead (a claim of 2,000 took 6.7 ms with 100,000 waiting, 0.7 ms this way; a window of
 * `source retry` 36 ms with 600,000). Postgres reads it as the plain guard.
 */
export const statusIs = (...statuses: DeliveryStatus[]) => sql`(status in ${statuses}) is true`;

export const seqList = (seqs: readonly DeliverySeq[]) =>
  sql`(${sql.join(
    seqs.map((s) => sql`${s}`),
    sql`, `,
  )})`;

/**
 * The route may take a send to `channelId` now: live, posting there, and its source live and
 * enabled. Read in the claiming statement itself, so a move, removal or disable that committed
 * first wins.
 */
export const routeSendsTo = (channelId: ChannelId) => sql`exists (
  select 1 from routes r join sources s on s.id = r.source_id
  where r.id = deliveries.route_id and r.channel_id = ${channelId} and r.removed_at is null and s.enabled and s.deleted_at is null)`;

/**
 * The same for a delivery already bound to `batchId` for `channelId` (a send that began there and
 * goes again under its nonce): its source may have been disabled since, not deleted — it may be in
 * Discord already, and Discord remembers a nonce for minutes, not for as long as a source is off.
 */
export const batchStillSendsTo = (channelId: ChannelId, batchId: BatchId) => sql`(deliveries.batch_id = ${batchId}
  and deliveries.channel_id = ${channelId} and exists (
  select 1 from routes r join sources s on s.id = r.source_id
  where r.id = deliveries.route_id and r.channel_id = ${channelId} and r.removed_at is null and s.deleted_at is null))`;
