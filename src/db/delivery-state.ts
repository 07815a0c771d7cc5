import { sql, type SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import type { BatchId, CardKey, ChannelId, DeliverySeq, DigestId, EventSeq, MessageId, RouteId, SourceId } from '../ids.js';
import { quietTreatment, scheduleOf, type ScheduleColumns } from '../schedule/route-schedule.js';
import type { Level } from '../sentry/facts.js';

/**
 * A delivery's state, owned here. River's rule for a job queue (riverqueue/river): a row moves
 * only through the few statements below, each naming the state it expects (`… where status =
 * 'pending'`) and reading the route's and source's *current* settings in the same statement or
 * transaction, so a decision made from an older read simply matches no row. Nothing else writes
 * `deliveries.status`, `batch_id` or `channel_id` (test/unit/delivery-state.test.ts checks).
 *
 * Not states of a delivery, and so not here: a channel on hold (the `holds` table: its routes'
 * deliveries stay pending and the queue skips them), a disabled source (a flag on the source: the
 * same), a route moved (its pending deliveries follow its `channel_id`, read when a send begins).
 */
export const DELIVERY_STATES = {
  pending: "waits its turn, due at `next_attempt_at`; goes to its route's channel as the route is when its send begins",
  sending: 'claimed for a channel and on its way there (or was when the process stopped: sent again there, under its nonce)',
  quiet: "arrived during its feed route's quiet hours below `quiet-pass`: waits for the digest at their end",
  delivered: 'posted (or its card edited): `message_id` says where',
  collapsed: 'counted in a flood summary message instead of posted on its own',
  digested: 'shown in a quiet-hours digest (`digest_id`) instead of posted on its own',
  failed: 'given up (Discord refused it for good, its deadline passed, or its channel stayed on hold); `source retry` queues it again',
} as const;

export type DeliveryStatus = keyof typeof DELIVERY_STATES;

/** Every way a delivery moves, for the README's table and the tests: which function, from what, to what, when. */
export const TRANSITIONS = [
  {
    by: 'enqueue',
    from: '—',
    to: 'pending, quiet',
    when: 'a webhook is stored (quiet from the route’s quiet hours as they are in that transaction)',
  },
  {
    by: 'claim',
    from: 'pending',
    to: 'sending',
    when: 'a send begins: only if the route still posts to that channel and its source is enabled',
  },
  { by: 'delivered', from: 'sending', to: 'delivered, collapsed', when: 'Discord took the message (a flood summary: collapsed)' },
  {
    by: 'sendLater',
    from: 'sending',
    to: 'pending',
    when: 'a transient failure (retried at its time) or a channel put on hold; keeps its batch and nonce for that channel',
  },
  {
    by: 'sendDifferently',
    from: 'sending',
    to: 'pending',
    when: 'Discord refused the batch as invalid: split, drawn more plainly, a summary split by type',
  },
  { by: 'release', from: 'sending', to: 'pending', when: 'a claim fell short (the route moved or was removed meanwhile): planned again' },
  {
    by: 'fail',
    from: 'sending, pending',
    to: 'failed',
    when: 'refused for good, past DELIVERY_DEADLINE, held past EVENT_RETENTION, or impossible to plan',
  },
  { by: 'requeueFailed', from: 'failed', to: 'pending', when: '`/dispatch source retry`, in bounded batches' },
  {
    by: 'releaseQuiet',
    from: 'quiet',
    to: 'pending',
    when: 'the route no longer holds (quiet hours off, or a card route now), in bounded batches',
  },
  { by: 'digestQuiet', from: 'quiet', to: 'digested', when: 'its quiet-hours digest is claimed' },
  {
    by: 'dropOfRoute',
    from: 'any',
    to: '(deleted)',
    when: 'its route or source was removed: purged in bounded batches, pending and quiet ones counted as dropped',
  },
] as const;

/** Rows one bounded statement touches at most: a step stays within a few milliseconds whatever the backlog. */
export const STEP_ROWS = 500;

const seqList = (seqs: readonly DeliverySeq[]) =>
  sql`(${sql.join(
    seqs.map((s) => sql`${s}`),
    sql`, `,
  )})`;

/**
 * The route may take a send to `channelId` now: live, posting there, and its source live and
 * enabled. Read in the claiming statement itself, so a move, removal or disable that committed
 * first wins.
 */
const routeSendsTo = (channelId: ChannelId) => sql`exists (
  select 1 from routes r join sources s on s.id = r.source_id
  where r.id = deliveries.route_id and r.channel_id = ${channelId} and r.removed_at is null and s.enabled and s.deleted_at is null)`;

// ── enqueue ────────────────────────────────────────────────────────────────────────────────────

/** A delivery to write for a stored event: the event, the route, and what quiet hours need to know of the event. */
export interface NewDelivery {
  eventSeq: EventSeq;
  routeId: RouteId;
  cardKey: CardKey | null;
  kind: { type: string; level: Level | undefined };
  /** Sent alone, never batched or summarized (a digest). */
  solo: boolean;
}

type RouteNow = ScheduleColumns & { id: RouteId; channel_id: ChannelId; layout: 'card' | 'feed'; source_id: SourceId };

/**
 * Writes the deliveries of stored events, each `pending` or `quiet` (muted on a card route) as the
 * route's quiet hours are *now*, read in this transaction: on Postgres the caller holds the
 * sources' rows (`lockSources`), which every route change takes first, so no change can commit
 * between this read and the commit. A route removed meanwhile takes nothing: its count is returned.
 */
export async function enqueue(tx: Database, rows: readonly NewDelivery[], now: number): Promise<{ written: number; gone: NewDelivery[] }> {
  if (rows.length === 0) return { written: 0, gone: [] };
  const routes = await routesNow(
    tx,
    rows.map((r) => r.routeId),
  );
  const values: SQL[] = [];
  const gone: NewDelivery[] = [];
  for (const row of rows) {
    const route = routes.get(row.routeId);
    if (!route) {
      gone.push(row);
      continue;
    }
    const quiet = quietTreatment(route.layout, scheduleOf(route), row.kind, now);
    values.push(
      sql`(${row.eventSeq}, ${row.routeId}, ${route.channel_id}, ${quiet === 'quiet' ? 'quiet' : 'pending'}, ${row.cardKey}, ${quiet === 'muted'}, ${row.solo}, ${now})`,
    );
  }
  for (let i = 0; i < values.length; i += STEP_ROWS) {
    await tx.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, status, card_key, muted, solo, next_attempt_at)
      values ${sql.join(values.slice(i, i + STEP_ROWS), sql`, `)}`);
  }
  return { written: values.length, gone };
}

async function routesNow(tx: Database, ids: readonly RouteId[]): Promise<Map<RouteId, RouteNow>> {
  const rows = await tx.all<Record<string, unknown>>(sql`
    select id, source_id, channel_id, layout, time_zone, quiet_from, quiet_to, quiet_pass, digest_every, digest_weekday, digest_at,
      digest_when_empty
    from routes where id in ${[...new Set(ids)]} and removed_at is null`);
  return new Map(
    rows.map((r) => [
      Number(r.id) as RouteId,
      {
        id: Number(r.id) as RouteId,
        source_id: Number(r.source_id) as SourceId,
        channel_id: String(r.channel_id) as ChannelId,
        layout: r.layout === 'card' ? 'card' : 'feed',
        timeZone: String(r.time_zone),
        quietFrom: r.quiet_from === null ? null : Number(r.quiet_from),
        quietTo: r.quiet_to === null ? null : Number(r.quiet_to),
        quietPass: String(r.quiet_pass),
        digestEvery: (r.digest_every as 'daily' | 'weekly' | null) ?? null,
        digestWeekday: Number(r.digest_weekday),
        digestAt: r.digest_at === null ? null : Number(r.digest_at),
        digestWhenEmpty: Boolean(r.digest_when_empty),
      },
    ]),
  );
}

/**
 * Postgres: takes these sources' rows for the transaction, in id order (every transaction that
 * locks sources does so in that order). A route change locks its source first, so an enqueue that
 * holds the source reads settings no change can overtake. SQLite has one writer: nothing to do.
 */
export async function lockSources(tx: Database, ids: readonly SourceId[]): Promise<void> {
  if (tx.dialect !== 'postgres' || ids.length === 0) return;
  await tx.all(sql`select id from sources where id in ${[...new Set(ids)].sort((a, b) => a - b)} order by id for update`);
}

// ── the worker: claim, and what became of a send ─────────────────────────────────────────────────

/**
 * pending → sending, as one batch for `channelId` under `batchId` (its Discord nonce). Guarded: only
 * deliveries still pending whose route posts to that channel now and whose source is enabled; a
 * delivery already bound to the batch (a retry) keeps it. Resolves with how many were claimed:
 * fewer than asked means the batch changed since it was planned (see `release`).
 */
export function claim(
  db: Database,
  seqs: readonly DeliverySeq[],
  batch: { batchId: BatchId; channelId: ChannelId; summary?: boolean },
): Promise<number> {
  if (seqs.length === 0) return Promise.resolve(0);
  return db.run(sql`
    update deliveries set status = 'sending', batch_id = ${batch.batchId}, channel_id = ${batch.channelId},
      summary = ${batch.summary ?? false}
    where seq in ${seqList(seqs)} and status = 'pending' and ${routeSendsTo(batch.channelId)}`);
}

/** sending → pending, batch dissolved: a claim that fell short; what it took is planned again. */
export async function release(db: Database, batchId: BatchId): Promise<void> {
  await db.run(
    sql`update deliveries set status = 'pending', batch_id = null, summary = ${false} where batch_id = ${batchId} and status = 'sending'`,
  );
}

/**
 * sending → delivered (or collapsed, for a flood summary). Resolves with the deliveries it
 * recorded: another replica that lost the channel mid-send may record the same batch, and only
 * the first counts.
 */
export async function delivered(
  tx: Database,
  seqs: readonly DeliverySeq[],
  outcome: { messageId: MessageId; at: number; collapsed: boolean },
): Promise<DeliverySeq[]> {
  if (seqs.length === 0) return [];
  const rows = await tx.all<{ seq: number }>(sql`
    update deliveries set status = ${outcome.collapsed ? 'collapsed' : 'delivered'}, delivered_at = ${outcome.at},
      message_id = ${outcome.messageId}, last_error = null
    where seq in ${seqList(seqs)} and status = 'sending' returning seq`);
  return rows.map((r) => Number(r.seq) as DeliverySeq);
}

/**
 * sending → pending, to go again later under the same batch and nonce for the same channel (a
 * transient failure: Discord may have posted it; a channel on hold). If the route moves meanwhile,
 * the next claim is for its new channel and forms a new batch: a waiting delivery follows its route.
 */
export async function sendLater(
  tx: Database,
  jobs: readonly { seq: DeliverySeq; nextAttemptAt: number }[],
  outcome: { reason: string; countAttempt: boolean },
): Promise<void> {
  // One statement per distinct time: a card's edit may carry hundreds of deliveries, all due together.
  const byTime = new Map<number, DeliverySeq[]>();
  for (const job of jobs) byTime.set(job.nextAttemptAt, [...(byTime.get(job.nextAttemptAt) ?? []), job.seq]);
  for (const [at, seqs] of byTime) {
    await tx.run(sql`
      update deliveries set status = 'pending', next_attempt_at = ${at}, last_error = ${outcome.reason},
        attempts = attempts + ${outcome.countAttempt ? 1 : 0}
      where seq in ${seqList(seqs)} and status = 'sending'`);
  }
}

/**
 * sending → pending with its batch dissolved, to be drawn or grouped differently: alone (`solo`,
 * after Discord refused the batch as invalid), more plainly (`renderFallback`), or as a summary of
 * its own type (`batchId`).
 */
export async function sendDifferently(
  tx: Database,
  seqs: readonly DeliverySeq[],
  how: { solo?: boolean; renderFallback?: number; batchId?: BatchId },
): Promise<void> {
  if (seqs.length === 0) return;
  await tx.run(sql`
    update deliveries set status = 'pending', batch_id = ${how.batchId ?? null},
      solo = ${how.solo === undefined ? sql`solo` : how.solo},
      render_fallback = ${how.renderFallback === undefined ? sql`render_fallback` : how.renderFallback},
      summary = ${how.batchId === undefined ? false : sql`summary`}
    where seq in ${seqList(seqs)} and status = 'sending'`);
}

/**
 * sending or pending → failed, with the reason; resolves with the ones it failed, by source
 * (counted on the source by the caller's transaction).
 */
export async function fail(
  tx: Database,
  seqs: readonly DeliverySeq[],
  reason: string,
  at: number,
): Promise<{ seq: DeliverySeq; sourceId: SourceId }[]> {
  if (seqs.length === 0) return [];
  const rows = await tx.all<{ seq: number; source_id: number }>(sql`
    update deliveries set status = 'failed', attempts = attempts + 1, last_error = ${reason}, delivered_at = ${at}
    where seq in ${seqList(seqs)} and status in ('sending', 'pending')
    returning seq, (select e.source_id from events e where e.seq = deliveries.event_seq) as source_id`);
  return rows.map((r) => ({ seq: Number(r.seq) as DeliverySeq, sourceId: Number(r.source_id) as SourceId }));
}

// ── commands and background steps, each bounded ───────────────────────────────────────────────────

/** Deliveries of these routes, in a bounded statement: `limit` rows of the given status, oldest first. */
const someOf = (routeIds: SQL, status: DeliveryStatus, extra: SQL = sql``) =>
  sql`(select seq from deliveries where status = ${status} and route_id in ${routeIds} ${extra} order by route_id, seq limit ${STEP_ROWS})`;

const routesOfSource = (sourceId: SourceId) => sql`(select id from routes where source_id = ${sourceId})`;

/** failed → pending, `STEP_ROWS` at a time (`/dispatch source retry`): resolves with how many moved this step. */
export function requeueFailed(db: Database, sourceId: SourceId, now: number): Promise<number> {
  return db.run(sql`
    update deliveries set status = 'pending', attempts = 0, next_attempt_at = ${now}, delivered_at = null, render_fallback = 0
    where seq in ${someOf(routesOfSource(sourceId), 'failed')} and status = 'failed'`);
}

/**
 * Pending deliveries waiting out a retry become due now, `STEP_ROWS` at a time: of one source
 * (`/dispatch source retry`), or of every channel not on hold (Discord answers again after an outage).
 */
export function dueNow(db: Database, scope: { sourceId: SourceId } | 'every-retry', now: number): Promise<number> {
  const routes =
    scope === 'every-retry'
      ? sql`(select id from routes where channel_id not in (select channel_id from holds))`
      : routesOfSource(scope.sourceId);
  return db.run(sql`
    update deliveries set next_attempt_at = ${now}
    where seq in ${someOf(routes, 'pending', sql`and next_attempt_at > ${now}${scope === 'every-retry' ? sql` and attempts > 0` : sql``}`)}
      and status = 'pending'`);
}

/**
 * quiet → pending, `STEP_ROWS` at a time, for routes that no longer hold: quiet hours turned off,
 * or a card route now (which makes cards of them, muted: quietly). Guarded on the route as it is
 * in this very statement: quiet hours turned on again meanwhile keep them for the next digest.
 */
export function releaseQuiet(db: Database, now: number): Promise<number> {
  const releasing = sql`(select id from routes where quiet_from is null or layout = 'card')`;
  return db.run(sql`
    update deliveries set status = 'pending', next_attempt_at = ${now},
      muted = muted or (select r.layout = 'card' from routes r where r.id = deliveries.route_id)
    where seq in ${someOf(releasing, 'quiet')} and status = 'quiet'
      and route_id in ${releasing}`);
}

/** quiet → digested, `STEP_ROWS` at a time: the deliveries a quiet-hours digest takes (it is drawn from exactly these). */
export function digestQuiet(db: Database, routeId: RouteId, digestId: DigestId): Promise<number> {
  return db.run(sql`
    update deliveries set status = 'digested', digest_id = ${digestId}
    where seq in ${someOf(sql`(${routeId})`, 'quiet')} and status = 'quiet'`);
}

/**
 * Pending deliveries of channels on hold whose events arrived before `olderThan` give up,
 * `STEP_ROWS` at a time: the hold was never fixed. `olderThanSeq` is the first event seq received
 * at or after that time (events are numbered as they arrive), so no event row is read.
 */
export async function failHeldTooLong(
  tx: Database,
  olderThanSeq: EventSeq,
  now: number,
): Promise<{ seq: DeliverySeq; sourceId: SourceId }[]> {
  const held = sql`(select id from routes where channel_id in (select channel_id from holds))`;
  const rows = await tx.all<{ seq: number }>(sql`${someOf(held, 'pending', sql`and event_seq < ${olderThanSeq}`)}`);
  return fail(
    tx,
    rows.map((r) => Number(r.seq) as DeliverySeq),
    'held for longer than EVENT_RETENTION: the channel was never fixed',
    now,
  );
}

/**
 * Deletes `STEP_ROWS` deliveries of a removed route (or of a route of a deleted source), counting
 * the pending and quiet ones as dropped on the source. Resolves with how many rows went; 0 when
 * none are left.
 */
export async function dropOfRoute(db: Database, routeId: RouteId, sourceId: SourceId): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.all<{ status: DeliveryStatus }>(sql`
      delete from deliveries where seq in (select seq from deliveries where route_id = ${routeId} limit ${STEP_ROWS})
      returning status`);
    const dropped = rows.filter((r) => r.status === 'pending' || r.status === 'quiet').length;
    if (dropped > 0) await tx.run(sql`update sources set events_dropped = events_dropped + ${dropped} where id = ${sourceId}`);
    return rows.length;
  });
}
