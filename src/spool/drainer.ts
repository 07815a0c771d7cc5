import { isDatabaseUnreachable, isForeignKeyViolation, type Database } from '../db/database.js';
import { acceptEvents, SourceGone, type AcceptedEvent, type Settled } from '../db/events.js';
import { findWebhookTarget, type WebhookTarget } from '../db/sources.js';
import { forgetTarget } from '../db/target-cache.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { routeEvent, type RoutedEvent } from '../routing/incoming-event.js';
import { decodeBody, parsePayload } from '../sentry/payload.js';
import { withDeadline } from './deadline.js';
import type { Spool } from './spool.js';
import type { SpoolBatch, SpooledRow, SpoolFile } from './spool-file.js';

export interface DrainerDeps {
  spool: Spool;
  file: SpoolFile;
  db: Database;
  dedupeWindowMs: number;
  /** How long the probe waits for Postgres (SPOOL_AFTER). */
  deadlineMs: number;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
  /** Events were stored: the delivery worker (here and on the other replicas) picks them up. */
  stored: () => void;
  /** How often Postgres is probed while away. */
  probeMs?: number;
}

/** A batch is bounded by rows (one multi-row insert in acceptEvents) and by bytes of bodies read at once. */
const BATCH_ROWS = 500;
const BATCH_BYTES = 4 * 1024 * 1024;

type Outcome = 'stored' | 'stored_duplicate' | 'source_gone' | 'unreadable' | 'rejected';

/** Serialization failure, deadlock: Postgres asks for the same work again, later. */
const isTransient = (error: unknown) => ['40001', '40P01'].includes(String((error as { code?: unknown } | null)?.code));

/**
 * Moves the spool into Postgres once it answers: oldest first, a batch at a time, each batch
 * through acceptEvents (the webhook's own write) with the routes as they are now, then removed.
 *
 * Each event is stored with the time it arrived (kept in the spool), not the drain's: its dedupe
 * window is judged from then, against what Postgres already has and what comes after.
 *
 * Exactly once, across a kill at any point: before a batch is handed to Postgres it is marked
 * with the time it is drained at, durably, in the spool. If the replica dies (or Postgres goes
 * away again) before the batch is removed, the same batch is drained again later: what Postgres
 * committed the first time is then found by its dedupe key (the same bytes for the same source,
 * received at that very time) and counted as a duplicate, not stored twice.
 *
 * Nothing here sends to Discord: drained events join the shared queue like any other.
 */
export class SpoolDrainer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: DrainerDeps) {}

  start(): void {
    this.schedule(0);
  }

  /**
   * Stops after the batch in hand, waiting for it at most `timeoutMs`: a batch whose commit hangs
   * (a silent network) is in doubt in the spool and drained again at the next start.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running?.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Drains now rather than at the next probe (tests, and the spool left by a previous run). */
  drainNow(): Promise<void> {
    return (this.running ??= this.pass().finally(() => (this.running = undefined)));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.drainNow()
        .catch((error: unknown) => this.deps.logger.error({ err: error }, 'the spool could not be read: trying again'))
        .finally(() => this.schedule(this.deps.probeMs ?? 1000));
    }, ms);
  }

  private async pass(): Promise<void> {
    const { spool, file, db } = this.deps;
    if (!spool.isAway && file.count === 0) return;
    if (spool.isAway) {
      const answers = await withDeadline(db.isUsable(), this.deps.deadlineMs, 'the probe').catch(() => false);
      if (!answers) return;
      spool.noteBack();
    }
    const started = performance.now();
    let drained = 0;
    for (;;) {
      if (this.stopped) return;
      const batch = file.nextBatch(BATCH_ROWS, BATCH_BYTES);
      if (!batch) {
        // Webhooks on their way into the file are drained now too, not a probe later (meanwhile every webhook is spooled).
        if (spool.isAway || !spool.accepting) break;
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      try {
        await this.drain(batch);
      } catch (error) {
        if (isDatabaseUnreachable(error)) spool.noteAway(error);
        else this.deps.logger.error({ err: error, spooled: file.count }, 'could not drain the spool: trying again');
        return;
      } finally {
        spool.measure();
      }
      drained += batch.rows.length;
    }
    if (drained > 0)
      this.deps.logger.info({ drained, ms: Math.round(performance.now() - started) }, 'spool drained: every spooled event is in Postgres');
  }

  /** One batch: routed, stored in one acceptEvents, then removed from the spool. */
  private async drain(batch: SpoolBatch): Promise<void> {
    const { file } = this.deps;
    const seqs = batch.rows.map((row) => row.seq);
    const at = batch.drainAt ?? this.deps.now();
    if (batch.drainAt === null) file.markDraining(seqs, at);

    const outcomes: Outcome[] = [];
    const targets = await this.targetsOf(batch.rows);
    const routed: { row: SpooledRow; event: RoutedEvent }[] = [];
    for (const row of batch.rows) {
      const target = targets.get(row.slug);
      if (!target || target.id !== row.sourceId) outcomes.push('source_gone');
      else {
        const event = this.routed(row, target);
        if (event) routed.push({ row, event });
        else outcomes.push('unreadable');
      }
    }
    const results =
      routed.length === 0
        ? []
        : await acceptEvents(
            this.deps.db,
            routed.map((r) => r.event.input),
            at,
            this.deps.dedupeWindowMs,
          );
    for (const [i, result] of results.entries()) outcomes.push(await this.settle(routed[i]!.row, routed[i]!.event, result, at));

    file.remove(seqs);
    this.count(outcomes, batch);
  }

  /** The sources of a batch as they are now (a slug whose source was deleted meanwhile: absent). */
  private async targetsOf(rows: readonly SpooledRow[]): Promise<Map<string, WebhookTarget | undefined>> {
    const targets = new Map<string, WebhookTarget | undefined>();
    for (const slug of new Set(rows.map((row) => row.slug))) targets.set(slug, await findWebhookTarget(this.deps.db, slug));
    return targets;
  }

  /** The spooled bytes read again as the webhook read them (they were verified then); undefined if they no longer read. */
  private routed(row: SpooledRow, target: WebhookTarget): RoutedEvent | undefined {
    try {
      const text = decodeBody(row.body);
      const { input, ...routed } = routeEvent(target, { eventType: row.eventType, body: row.body, text, payload: parsePayload(text) });
      // Stored with the time it arrived: every window (dedupe, DMs) is judged from then, not from the drain.
      return { ...routed, input: { ...input, arrivedAt: row.receivedAt } };
    } catch (error) {
      this.deps.logger.error(
        { err: error, source_id: row.sourceId, event_type: row.eventType },
        'a spooled event no longer reads: dropped',
      );
      return undefined;
    }
  }

  /**
   * What became of one event of the batch. One that failed alone because a route (or its source)
   * went after the routes were read is routed again with what is left, as the webhook does.
   */
  private async settle(row: SpooledRow, event: RoutedEvent, result: Settled<AcceptedEvent>, at: number): Promise<Outcome> {
    if (result.ok) return this.stored(event, result.value);
    if (result.error instanceof SourceGone) return 'source_gone';
    if (!isForeignKeyViolation(result.error)) return this.refused(row, result.error);
    forgetTarget(this.deps.db, row.slug);
    const fresh = await findWebhookTarget(this.deps.db, row.slug);
    if (!fresh || fresh.id !== row.sourceId) return 'source_gone';
    const again = this.routed(row, fresh);
    if (!again) return 'unreadable';
    const [retried] = await acceptEvents(this.deps.db, [again.input], at, this.deps.dedupeWindowMs);
    if (retried!.ok) return this.stored(again, retried!.value);
    if (isForeignKeyViolation(retried!.error) || retried!.error instanceof SourceGone) return 'source_gone';
    return this.refused(row, retried!.error);
  }

  /**
   * Postgres refused this one event (what the webhook would have answered 500 to, had Postgres
   * been there): dropped, so that it does not hold the spool up forever. A transient refusal makes
   * the whole batch wait for the next pass instead.
   */
  private refused(row: SpooledRow, error: unknown): Outcome {
    if (isTransient(error) || isDatabaseUnreachable(error)) throw error;
    this.deps.logger.error({ err: error, source_id: row.sourceId, event_type: row.eventType }, 'Postgres refused a spooled event: dropped');
    return 'rejected';
  }

  private stored(event: RoutedEvent, accepted: AcceptedEvent): Outcome {
    if (accepted.duplicate) return 'stored_duplicate';
    if (event.filteredBy.length > 0) this.deps.metrics.filtered.inc(event.filteredBy.length);
    if (event.through.length > 0) this.deps.stored();
    return 'stored';
  }

  private count(outcomes: readonly Outcome[], batch: SpoolBatch): void {
    const tally = new Map<Outcome, number>();
    for (const outcome of outcomes) tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
    for (const [outcome, n] of tally) this.deps.metrics.spooled.inc({ outcome }, n);
    const gone = tally.get('source_gone') ?? 0;
    if (gone > 0) this.deps.logger.info({ dropped: gone }, 'spooled events of a source deleted while Postgres was away: dropped');
    this.deps.logger.debug(
      { events: batch.rows.length, again: batch.drainAt !== null, ...Object.fromEntries(tally) },
      'spool batch drained',
    );
  }
}
