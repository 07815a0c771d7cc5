import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { deliveries, type DeliveryRow } from './schema.js';
import {
  asChannelId,
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

/**
 * What the delivery worker reads of the queue: which channels have work, and what each sends next.
 * Reads only; every change of a delivery's state is in delivery-state/.
 *
 * The queue is kept per route (the `(status, route_id, seq)` index): a waiting delivery goes to
 * its route's channel as the route is when its send begins, so a moved route takes its waiting
 * deliveries with it without a row being written, and a disabled or deleted source's deliveries are
 * skipped by reading one flag, not rewritten. A channel's queue is its routes' queues merged by `seq`.
 */

/**
 * A delivery with what the worker needs of its event: the unit the queue hands out. Its `channelId`
 * is where it goes now (its route's channel, or where its send began), and its `batchId` a batch
 * formed for that channel (one formed for another channel, before its route moved, is dropped).
 */
export interface Job extends DeliveryRow {
  eventId: EventId;
  sourceId: SourceId;
  eventType: string;
  body: string;
  /** When its event was stored. */
  receivedAt: number;
  /** When its event reached Dispatch: before it was stored when a replica kept it in its spool. */
  arrivedAt: number;
  /** Its route's layout: a card route keeps a card per Sentry issue. */
  layout: 'card' | 'feed';
  /** Its event body's size in bytes (read from the row's header, not its content). */
  bytes: number;
}

/** A job without its event's body: what deciding what goes next needs (bodies are read only for what is drawn). */
export type QueuedJob = Omit<Job, 'body'>;

const FROM = sql`from deliveries d join events e on e.seq = d.event_seq join routes r on r.id = d.route_id`;
// Where it goes: a pending delivery to its route's channel now; a sending one where its send began.
const COLUMNS = sql`d.*, e.id as event_id, e.source_id, e.event_type, e.received_at, coalesce(e.arrived_at, e.received_at) as arrived_at, octet_length(e.body) as bytes, r.layout,
  case when d.status = 'sending' then d.channel_id else r.channel_id end as target_channel_id`;
const QUEUED = sql`select ${COLUMNS} ${FROM}`;
export const JOB = sql`select ${COLUMNS}, e.body ${FROM}`;

/**
 * A pending delivery not bound to a batch for where it goes now: none formed, or one formed for the
 * channel its route has left (its nonce was for there; `toQueued` drops it). Needs `d` and its route `r`.
 */
export const UNBATCHED = sql`(d.batch_id is null or d.channel_id <> r.channel_id)`;

function toQueued(row: Record<string, unknown>): QueuedJob {
  const stored = fromRow(deliveries, row);
  const channelId = asChannelId(String(row.target_channel_id));
  // A batch formed for another channel (its route moved since) is no batch here: its nonce was for there.
  const stale = stored.status === 'pending' && stored.batchId !== null && stored.channelId !== channelId;
  return {
    ...stored,
    ...(stale ? { batchId: null, summary: false } : {}),
    channelId,
    eventId: asEventId(String(row.event_id)),
    sourceId: asSourceId(Number(row.source_id)),
    eventType: String(row.event_type),
    receivedAt: Number(row.received_at),
    arrivedAt: Number(row.arrived_at),
    layout: row.layout === 'card' ? 'card' : 'feed',
    bytes: Number(row.bytes ?? 0),
  };
}

export function toJob(row: Record<string, unknown>): Job {
  return { ...toQueued(row), body: String(row.body) };
}

export const seqsOf = (jobs: readonly Pick<QueuedJob, 'seq'>[]): DeliverySeq[] => jobs.map((j) => j.seq);

/** Bodies read at once at most (a batch, a card's edit, a summary's examples): reads are bounded in bytes, not rows. */
export const BODY_BUDGET_BYTES = 4 * 1024 * 1024;

/** The leading jobs whose bodies fit in `budget` bytes, and always the first (a body alone is within MAX_BODY_BYTES). */
export function withinBytes<J extends Pick<QueuedJob, 'bytes'>>(jobs: readonly J[], budget = BODY_BUDGET_BYTES): J[] {
  let total = 0;
  const taken: J[] = [];
  for (const job of jobs) {
    total += job.bytes;
    if (taken.length > 0 && total > budget) break;
    taken.push(job);
  }
  return taken;
}

/** Live routes of enabled, live sources: the only ones whose deliveries may go. */
const SENDABLE_ROUTE = sql`r.removed_at is null and exists (select 1 from sources s where s.id = r.source_id and s.enabled and s.deleted_at is null)`;
/**
 * A batch whose send has begun finishes where it began, whatever happened since but a delete: a
 * route moved or a source disabled after the claim do not stop it (it may be in Discord already;
 * sent again under its nonce, it is answered with that message). A removed route's or deleted
 * source's is left to the purge.
 */
const LIVE_ROUTE = sql`r.removed_at is null and exists (select 1 from sources s where s.id = r.source_id and s.deleted_at is null)`;
/**
 * `d`'s send has begun where its route posts: being sent, or waiting to go again under its batch's
 * nonce after a transient failure (Discord may have posted it): it finishes as `LIVE_ROUTE` says.
 */
const BEGUN = sql`(d.status = 'sending' or (d.batch_id is not null and d.channel_id = r.channel_id))`;

/**
 * `heads(seq)`: the oldest pending delivery of every route that has one. A loose index scan jumps
 * from one route with pending deliveries to the next along `(status, route_id, seq)`, so its cost
 * follows the routes with work, not the backlog or the routes that exist.
 */
const ROUTE_HEADS = sql`
  with recursive busy(route_id) as (
    select min(route_id) from deliveries where status = 'pending'
    union all
    select (select min(d.route_id) from deliveries d where d.status = 'pending' and d.route_id > b.route_id)
    from busy b where b.route_id is not null
  ),
  heads(seq) as (
    select (select hd.seq from deliveries hd where hd.status = 'pending' and hd.route_id = b.route_id order by hd.seq limit 1)
    from busy b where b.route_id is not null
  )`;

/**
 * The next delivery of every channel with work, at most one per channel, not on hold: a batch left
 * `sending` there (in flight here, or interrupted by a restart or another replica's end: sent
 * again under its nonce) first, else the oldest pending delivery of the routes that post there.
 * One pass over the routes that have pending deliveries (a loose index scan jumps from one to the
 * next, so an idle route is never visited), and one over the few sending batches.
 */
export async function dueHeads(db: Database): Promise<QueuedJob[]> {
  const rows = await db.all(sql`
    ${ROUTE_HEADS}
    ${QUEUED} where d.seq in (select seq from heads union all select min(seq) from deliveries where status = 'sending' group by channel_id)
      and (case when ${BEGUN} then ${LIVE_ROUTE} else ${SENDABLE_ROUTE} end)
      and (case when d.status = 'sending' then d.channel_id else r.channel_id end) not in (select channel_id from holds)`);
  const byChannel = new Map<ChannelId, QueuedJob>();
  // What is being sent in a channel goes first there; then the oldest of its routes' heads.
  const order = (job: QueuedJob) => (job.status === 'sending' ? 0 : 1);
  for (const job of rows.map(toQueued).sort((a, b) => order(a) - order(b) || a.seq - b.seq)) {
    if (!byChannel.has(job.channelId)) byChannel.set(job.channelId, job);
  }
  return [...byChannel.values()].sort((a, b) => a.seq - b.seq);
}

/** The routes whose deliveries go to a channel now (live, of an enabled source). */
export async function routesSendingTo(db: Database, channelId: ChannelId): Promise<RouteId[]> {
  const rows = await db.all<{ id: number }>(sql`select r.id from routes r where r.channel_id = ${channelId} and ${SENDABLE_ROUTE}`);
  return rows.map((r) => Number(r.id) as RouteId);
}

/**
 * The batch being sent to a channel, if one is (or was, when the process stopped): it goes first.
 * Without bodies: a flood summary's batch holds thousands (read the bodies of any other with `jobsOf`).
 */
export async function sendingIn(db: Database, channelId: ChannelId): Promise<QueuedJob[]> {
  const head = await db.get<{ batch_id: BatchId }>(sql`
    select d.batch_id from deliveries d join routes r on r.id = d.route_id
    where d.status = 'sending' and d.channel_id = ${channelId} and ${LIVE_ROUTE} order by d.seq limit 1`);
  return head ? queuedInBatch(db, head.batch_id) : [];
}

/**
 * The first `limit` pending deliveries for a channel, without their bodies: its routes' queues
 * merged in order (each route's read through the queue index, however long its backlog).
 */
export async function queuedForChannel(db: Database, channelId: ChannelId, limit: number): Promise<QueuedJob[]> {
  const routes = await routesSendingTo(db, channelId);
  const jobs: QueuedJob[] = [];
  for (const routeId of routes) {
    const rows = await db.all(sql`${QUEUED} where d.status = 'pending' and d.route_id = ${routeId} order by d.seq limit ${limit}`);
    jobs.push(...rows.map(toQueued));
  }
  jobs.push(...(await begunOfDisabled(db, channelId)));
  return jobs.sort((a, b) => a.seq - b.seq).slice(0, limit);
}

/**
 * The batches of a disabled source's routes whose send began in this channel and failed for a
 * while (`BEGUN`): each goes again under its nonce, as one left sending does — it may be in Discord
 * already, and Discord remembers a nonce for minutes, not for as long as a source stays disabled.
 * A route's batch is at its head: one index seek per such route of the channel.
 */
async function begunOfDisabled(db: Database, channelId: ChannelId): Promise<QueuedJob[]> {
  const paused = await db.all<{ id: number }>(
    sql`select r.id from routes r where r.channel_id = ${channelId} and ${LIVE_ROUTE} and not (${SENDABLE_ROUTE})`,
  );
  const jobs: QueuedJob[] = [];
  for (const { id } of paused) {
    const head = (await db.all(sql`${QUEUED} where d.status = 'pending' and d.route_id = ${id} order by d.seq limit 1`)).map(toQueued)[0];
    if (head?.batchId) jobs.push(...(await queuedInBatch(db, head.batchId)).filter((job) => job.status === 'pending'));
  }
  return jobs;
}

/** These deliveries with their bodies, in order: what is about to be drawn (choose them with `withinBytes`). */
export async function jobsOf(db: Database, seqs: readonly DeliverySeq[]): Promise<Job[]> {
  if (seqs.length === 0) return [];
  return (await db.all(sql`${JOB} where d.seq in ${seqs} order by d.seq`)).map(toJob);
}

/**
 * A batch's deliveries still on their way (pending or sending), with their bodies, in order. Only for
 * a batch known to be small (not a flood summary's, which holds up to SUMMARY_MAX_EVENTS): see `queuedInBatch`.
 */
export async function jobsInBatch(db: Database, batchId: BatchId): Promise<Job[]> {
  return (await db.all(sql`${JOB} where d.batch_id = ${batchId} and d.status in ('pending', 'sending') order by d.seq`)).map(toJob);
}

/** The same without bodies. */
export async function queuedInBatch(db: Database, batchId: BatchId): Promise<QueuedJob[]> {
  return (await db.all(sql`${QUEUED} where d.batch_id = ${batchId} and d.status in ('pending', 'sending') order by d.seq`)).map(toQueued);
}

/** The first `limit` pending deliveries for one card of a route not bound to a batch for its channel (`UNBATCHED`), without bodies, in order: what one edit may take in. */
export async function queuedForCard(db: Database, routeId: RouteId, cardKey: CardKey, limit: number): Promise<QueuedJob[]> {
  const rows = await db.all(sql`
    ${QUEUED} where d.route_id = ${routeId} and d.card_key = ${cardKey} and d.status = 'pending' and ${UNBATCHED}
    order by d.seq limit ${limit}`);
  return rows.map(toQueued);
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
    select distinct route_id, card_key from deliveries where status = 'sending' and channel_id <> ${channelId}
      and route_id in ${[...new Set(keyed.map((c) => c.routeId))]} and card_key in ${[...new Set(keyed.map((c) => c.cardKey))]}`);
  return new Set(rows.map((r) => `${Number(r.route_id)}:${r.card_key}`));
}

/** How many of a route's deliveries wait (pending, or quiet), counted through the index, up to `cap` (then `cap` means "at least"). */
export async function waitingOfRoute(db: Database, routeId: RouteId, status: 'pending' | 'quiet', cap = 100_000): Promise<number> {
  const row = await db.get<{ n: number }>(sql`
    select count(*) as n from (select 1 from deliveries where status = ${status} and route_id = ${routeId} limit ${cap}) as capped`);
  return Number(row?.n ?? 0);
}

/** How many of a route's deliveries wait to be sent (up to `cap`), and since when the oldest: what the flood rule looks at. */
export async function backlogOfRoute(
  db: Database,
  routeId: RouteId,
  cap = 100_000,
): Promise<{ waiting: number; oldestReceivedAt: number | null }> {
  const waiting = await waitingOfRoute(db, routeId, 'pending', cap);
  const head = await db.get<{ received_at: number }>(sql`
    select e.received_at from events e where e.seq = (select d.event_seq from deliveries d where d.status = 'pending' and d.route_id = ${routeId}
      order by d.seq limit 1)`);
  return { waiting, oldestReceivedAt: head ? Number(head.received_at) : null };
}

/** How many of a source's deliveries wait (over all its routes, pending or quiet), through the index, up to `cap`. */
export async function waitingOfSource(db: Database, sourceId: SourceId, cap = 100_000): Promise<number> {
  const row = await db.get<{ n: number }>(sql`
    select count(*) as n from (select 1 from deliveries where status in ('pending', 'quiet')
      and route_id in (select id from routes where source_id = ${sourceId}) limit ${cap}) as capped`);
  return Number(row?.n ?? 0);
}

/**
 * The whole queue's depth (up to `cap`) and when its oldest delivery's event arrived: /healthz and
 * the metrics. Deliveries and events are numbered in arrival order, so the oldest is the first
 * head of a route's queue: one event row is read, not the whole backlog's.
 */
export async function queueStats(
  db: Database,
  now: number,
  cap = 1_000_000,
): Promise<{ depth: number; oldestPendingAgeMs: number | null }> {
  const depth = await db.get<{ n: number }>(sql`
    select count(*) as n from (select 1 from deliveries where status in ('pending', 'sending') limit ${cap}) as capped`);
  // The oldest of the routes' heads and of what is being sent (few rows either way).
  const oldest = await db.get<{ received_at: number }>(sql`
    ${ROUTE_HEADS}, waiting(seq) as (select seq from heads union all select min(seq) from deliveries where status = 'sending')
    select e.received_at from events e where e.seq = (select d.event_seq from deliveries d where d.seq = (select min(seq) from waiting))`);
  return { depth: Number(depth?.n ?? 0), oldestPendingAgeMs: oldest ? now - Number(oldest.received_at) : null };
}
