import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { deliveries, type DeliveryRow } from './schema.js';
import {
  asEventId,
  asSourceId,
  type BatchId,
  type CardKey,
  type ChannelId,
  type DeliverySeq,
  type EventId,
  type RouteId,
  type SourceId,
} from '../ids.js';

/** A delivery with what the worker needs of its event: the unit the queue hands out. */
export interface Job extends DeliveryRow {
  eventId: EventId;
  sourceId: SourceId;
  eventType: string;
  body: string;
  receivedAt: number;
  /** Its route's layout: a card route keeps a card per Sentry issue. */
  layout: 'card' | 'feed';
}

/** A job without its event's body: what deciding what goes next needs (bodies are read only for what is drawn). */
export type QueuedJob = Omit<Job, 'body'>;

const FROM = sql`from deliveries d join events e on e.seq = d.event_seq join routes r on r.id = d.route_id`;
export const JOB = sql`select d.*, e.id as event_id, e.source_id, e.event_type, e.body, e.received_at, r.layout ${FROM}`;
const QUEUED = sql`select d.*, e.id as event_id, e.source_id, e.event_type, e.received_at, r.layout ${FROM}`;

function toQueued(row: Record<string, unknown>): QueuedJob {
  return {
    ...fromRow(deliveries, row),
    eventId: asEventId(String(row.event_id)),
    sourceId: asSourceId(Number(row.source_id)),
    eventType: String(row.event_type),
    receivedAt: Number(row.received_at),
    layout: row.layout === 'card' ? 'card' : 'feed',
  };
}

export function toJob(row: Record<string, unknown>): Job {
  return { ...toQueued(row), body: String(row.body) };
}

export const seqsOf = (jobs: readonly Pick<QueuedJob, 'seq'>[]): DeliverySeq[] => jobs.map((j) => j.seq);

/**
 * The head (oldest pending delivery) of every channel that has pending deliveries and is not on
 * hold: the only deliveries that may go next. One statement, whose cost follows the channels that
 * have work, not the channels, routes or sources that exist: a recursive query jumps from one
 * channel with pending deliveries to the next along the `(status, channel_id, seq)` index (a
 * loose index scan), so an idle channel is never visited, and each head is the first index entry
 * of its channel. (A disabled source's deliveries are `paused`, not pending: never read here.)
 */
export async function dueHeads(db: Database): Promise<QueuedJob[]> {
  const rows = await db.all(sql`
    with recursive waiting(channel_id) as (
      select min(channel_id) from deliveries where status = 'pending'
      union all
      select (select min(d.channel_id) from deliveries d where d.status = 'pending' and d.channel_id > w.channel_id)
      from waiting w where w.channel_id is not null
    ),
    heads(seq) as (
      select (select hd.seq from deliveries hd where hd.status = 'pending' and hd.channel_id = w.channel_id order by hd.seq limit 1)
      from waiting w where w.channel_id is not null and w.channel_id not in (select channel_id from holds)
    )
    ${QUEUED} join heads h on h.seq = d.seq order by d.seq`);
  return rows.map(toQueued);
}

/** The first `limit` pending deliveries of a channel, without their bodies: to decide what goes next. */
export async function queuedForChannel(db: Database, channelId: ChannelId, limit: number): Promise<QueuedJob[]> {
  const rows = await db.all(sql`${QUEUED} where d.status = 'pending' and d.channel_id = ${channelId} order by d.seq limit ${limit}`);
  return rows.map(toQueued);
}

/** These deliveries with their bodies, in order: what is about to be drawn. */
export async function jobsOf(db: Database, seqs: readonly DeliverySeq[]): Promise<Job[]> {
  if (seqs.length === 0) return [];
  return (await db.all(sql`${JOB} where d.seq in ${seqs} order by d.seq`)).map(toJob);
}

/** Pending deliveries of a channel in arrival order, starting at the head. */
export async function pendingForChannel(db: Database, channelId: ChannelId, limit: number): Promise<Job[]> {
  const rows = await db.all(sql`${JOB} where d.status = 'pending' and d.channel_id = ${channelId} order by d.seq limit ${limit}`);
  return rows.map(toJob);
}

export async function jobsInBatch(db: Database, batchId: BatchId): Promise<Job[]> {
  return (await db.all(sql`${JOB} where d.batch_id = ${batchId} and d.status = 'pending' order by d.seq`)).map(toJob);
}

/** The first `limit` waiting deliveries for one card of a route not yet in a batch, in order: what one edit of the card takes in. */
export async function pendingForCard(db: Database, routeId: RouteId, cardKey: CardKey, limit: number): Promise<Job[]> {
  const rows = await db.all(sql`
    ${JOB} where d.route_id = ${routeId} and d.card_key = ${cardKey} and d.status = 'pending' and d.batch_id is null
    order by d.seq limit ${limit}`);
  return rows.map(toJob);
}

/**
 * Of these cards, the ones another channel is sending right now, by `routeId:cardKey` (their route
 * moved while a new card or an edit was on its way): a card's sends go one at a time, wherever they
 * are sent from, so that the late answer from the old channel is not recorded over a newer card.
 */
export async function cardsSendingElsewhere(
  db: Database,
  cards: readonly { routeId: RouteId; cardKey: CardKey | null }[],
  channelId: ChannelId,
): Promise<Set<string>> {
  const keyed = cards.filter((c): c is { routeId: RouteId; cardKey: CardKey } => c.cardKey !== null);
  if (keyed.length === 0) return new Set();
  const rows = await db.all<{ route_id: number; card_key: CardKey }>(sql`
    select distinct route_id, card_key from deliveries where route_id in ${[...new Set(keyed.map((c) => c.routeId))]}
      and card_key in ${[...new Set(keyed.map((c) => c.cardKey))]} and status = 'pending' and sending and channel_id <> ${channelId}`);
  return new Set(rows.map((r) => `${Number(r.route_id)}:${r.card_key}`));
}

/**
 * Forms a batch about to be sent: these deliveries go as one message, under the batch id as
 * Discord nonce, and are claimed for their channel in the same statement (see `claimBatch`).
 */
export async function assignBatch(db: Database, seqs: readonly DeliverySeq[], batchId: BatchId): Promise<void> {
  await db.run(sql`update deliveries set batch_id = ${batchId}, sending = ${true} where seq in ${seqs}`);
}

/**
 * Claims a batch for its channel as its send begins: from now on a route moved elsewhere leaves it
 * where it is being sent (see `followMovedRoutes`). Resolves with how many deliveries were
 * claimed: fewer than the batch holds means the batch changed since it was planned (a route moved
 * or was removed), and it must not be sent as planned.
 */
export function claimBatch(db: Database, batchId: BatchId, channelId: ChannelId): Promise<number> {
  return db.run(sql`
    update deliveries set sending = ${true} where batch_id = ${batchId} and channel_id = ${channelId} and status = 'pending'`);
}

/** A batch that will not be sent as planned (it changed since): what it had claimed is free again. */
export async function releaseClaim(db: Database, batchId: BatchId): Promise<void> {
  await db.run(sql`update deliveries set sending = ${false} where batch_id = ${batchId} and status = 'pending'`);
}

/**
 * After a send failed: deliveries whose route now posts to another channel (it was moved while they
 * were being sent) follow it, as new deliveries there. Resolves with the ones that moved.
 */
export async function followMovedRoutes(db: Database, batch: readonly Job[], now: number): Promise<Set<DeliverySeq>> {
  const moved = await db.all<{ seq: DeliverySeq }>(sql`
    update deliveries set channel_id = (select r.channel_id from routes r where r.id = deliveries.route_id),
      batch_id = null, sending = ${false}, summary = ${false}, solo = ${false}, next_attempt_at = ${now}
    where seq in ${seqsOf(batch)} and status = 'pending'
      and channel_id <> (select r.channel_id from routes r where r.id = deliveries.route_id)
    returning seq`);
  return new Set(moved.map((row) => Number(row.seq) as DeliverySeq));
}
