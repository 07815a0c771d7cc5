import { isDatabaseUnreachable, DatabaseUnreachable, type Database } from '../db/database.js';
import type { AcceptWebhook, SpooledEvent, WriteEvent } from '../db/event-writer.js';
import type { IncomingEvent } from '../db/events.js';
import type { WebhookTarget } from '../db/sources.js';
import { lastReadTarget } from '../db/target-cache.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { withDeadline } from './deadline.js';
import { SpoolFull, type SpoolEntry, type SpoolFile } from './spool-file.js';

export interface SpoolDeps {
  file: SpoolFile;
  db: Database;
  /** SPOOL_AFTER: how long a webhook's read or write may wait for Postgres before the spool takes it. */
  deadlineMs: number;
  dedupeWindowMs: number;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
}

export interface SpoolHealth {
  database: 'ok' | 'away';
  /** Events waiting in the spool (while away, and while it drains). */
  spooled: number;
  /** It refused a webhook for room: webhooks get 503 until some are drained. */
  full: boolean;
}

/** A webhook on its way into the spool file, and who waits for it. */
type Keeping = {
  entry: SpoolEntry;
  dedupeSince: number;
  resolve: (kept: SpooledEvent & { seq: number }) => void;
  reject: (error: unknown) => void;
};

/**
 * A replica's answer to Postgres being away (a failover, a restart, the network): webhooks it
 * verified are kept in its local spool file and acknowledged, rather than refused and lost, since
 * Sentry never sends a webhook twice. The spool stands in front of the webhook's read of its
 * source and its write; the drain (drainer.ts) moves the spool into Postgres once it answers.
 *
 * Postgres is "away" from the first read or write that fails for want of a connection or does not
 * answer within the deadline, until the drain's probe gets an answer. While away, webhooks do not
 * wait on Postgres at all (Sentry gives up after a second): the source comes from this replica's
 * last good read of it, or its standby copy of every live source (known-targets.ts; a slug of no
 * live source is refused), and the event goes straight to
 * the spool. New events keep going to the spool until it is empty, so that this replica's events
 * reach the queue in the order they arrived.
 */
export class Spool {
  private away = false;
  /** Webhooks on their way into the spool file (the next group to be written). */
  private keeping: Keeping[] = [];

  constructor(private readonly deps: SpoolDeps) {
    this.measure();
  }

  /** New webhooks go to the spool: Postgres is away, or the spool is still being drained. */
  get accepting(): boolean {
    return this.away || this.deps.file.count > 0 || this.keeping.length > 0;
  }

  get isAway(): boolean {
    return this.away;
  }

  health(): SpoolHealth {
    return { database: this.away ? 'away' : 'ok', spooled: this.deps.file.count, full: this.deps.file.full };
  }

  /** The webhook's look-up of a slug: Postgres within the deadline, else the last good read. */
  async findTarget(slug: string, read: () => Promise<WebhookTarget | undefined>): Promise<WebhookTarget | undefined> {
    if (!this.away) {
      try {
        return await withDeadline(read(), this.deps.deadlineMs, 'a webhook look-up');
      } catch (error) {
        if (!isDatabaseUnreachable(error)) throw error;
        this.noteAway(error);
      }
    }
    const known = lastReadTarget<WebhookTarget>(this.deps.db, slug);
    if (!known) throw new DatabaseUnreachable('the database is away and this replica knows no live source of this slug');
    return known;
  }

  /** `write` (the group-commit writer) with the spool in front of it. */
  writer(write: WriteEvent): AcceptWebhook {
    return async (input, slug) => {
      if (this.accepting) return this.keep(input, slug);
      const writing = write(input);
      try {
        return await withDeadline(writing, this.deps.deadlineMs, 'a webhook write');
      } catch (error) {
        if (!isDatabaseUnreachable(error)) throw error;
        this.noteAway(error);
        const kept = await this.keep(input, slug);
        // A write that was only slow may still commit: its spooled copy is then not needed (and
        // if a drain has it in hand already, Postgres's dedupe key makes it the same event).
        writing.then(
          () => this.storedAfterAll(kept),
          () => {},
        );
        return kept;
      }
    };
  }

  /** A webhook spooled because its write was late has been stored after all: its spooled copy goes, unless a drain has it in hand. */
  private storedAfterAll(kept: SpooledEvent & { seq: number }): void {
    if (kept.duplicate) return;
    try {
      this.deps.file.removeUnlessDraining(kept.seq);
      this.measure();
    } catch (error) {
      // The spool closed meanwhile (shutting down): the drain's dedupe key makes the copy harmless.
      this.deps.logger.debug({ err: error }, 'could not remove a spooled copy of a late write');
    }
  }

  /** For /healthz: whether Postgres answers within the deadline (not asked while away: the drain's probe does). */
  async databaseAnswers(): Promise<boolean> {
    if (this.away) return false;
    const answers = await withDeadline(this.deps.db.isUsable(), this.deps.deadlineMs, 'the health check').catch(() => false);
    if (!answers) this.noteAway(new DatabaseUnreachable('the health check got no answer'));
    return answers;
  }

  noteAway(error: unknown): void {
    if (this.away) return;
    this.away = true;
    this.deps.logger.warn(
      { err: error, spool: this.deps.file.path },
      "Postgres does not answer: webhooks are kept in this replica's spool until it is back",
    );
    this.measure();
  }

  /** The drain's probe got an answer: webhooks look their source up in Postgres again (and are spooled until the spool is empty). */
  noteBack(): void {
    if (!this.away) return;
    this.away = false;
    this.deps.logger.info({ spooled: this.deps.file.count }, 'Postgres answers again: draining the spool');
    this.measure();
  }

  /** The gauges, after the spool or the state changed. */
  measure(): void {
    this.deps.metrics.spoolDepth.set(this.deps.file.count);
    this.deps.metrics.spoolBytes.set(this.deps.file.bytes);
    this.deps.metrics.databaseAway.set(this.away ? 1 : 0);
  }

  /**
   * Keeps a webhook in the spool; resolves once it is on disk. Webhooks kept in the same turn of
   * the event loop share one transaction (one sync to disk), as the event writer's group commit.
   */
  private keep(input: IncomingEvent, slug: string): Promise<SpooledEvent & { seq: number }> {
    const now = this.deps.now();
    const entry = { receivedAt: now, sourceId: input.sourceId, slug, eventType: input.eventType, body: input.body };
    return new Promise((resolve, reject) => {
      this.keeping.push({ entry, dedupeSince: now - this.deps.dedupeWindowMs, resolve, reject });
      if (this.keeping.length === 1) setImmediate(() => this.keepTogether());
    });
  }

  private keepTogether(): void {
    const group = this.keeping;
    this.keeping = [];
    try {
      const kept = this.deps.file.appendAll(group);
      group.forEach((waiting, i) => {
        const result = kept[i]!;
        if (result instanceof SpoolFull) {
          this.deps.metrics.spooled.inc({ outcome: 'refused' });
          return waiting.reject(result);
        }
        this.deps.metrics.spooled.inc({ outcome: result.duplicate ? 'duplicate' : 'spooled' });
        waiting.resolve({ spooled: true, ...result });
      });
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
    } finally {
      this.measure();
    }
  }
}
