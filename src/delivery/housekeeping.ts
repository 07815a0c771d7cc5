import { pruneCards } from '../db/cards.js';
import type { Database } from '../db/database.js';
import { releaseQuiet } from '../db/delivery-state/index.js';
import { expireHeld, inSteps } from '../db/deliveries.js';
import { pruneDmClaims } from '../db/dm-sent.js';
import { DM_CLAIMS_KEPT_MS } from '../people/dm-once.js';
import { pruneOlderThan } from '../db/purge.js';
import { anythingToPurge, purgeRouteStep, purgeSourceStep, routesToPurge, sourcesToPurge } from '../db/purge.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Clock, Timer } from './clock.js';

export interface HousekeepingDeps {
  db: Database;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  retentionMs: number;
  /** Deliveries were made due (quiet hours let go of some): the worker should look. */
  wake: () => void;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Leftovers of deletes and quiet hours turned off are looked for this often (and when asked). */
export const TIDY_EVERY_MS = 5000;

/**
 * The worker's background chores, each a series of bounded steps that give way to webhooks and
 * interactions in between, so none holds the event loop however big the database: purging what
 * a delete left (see src/db/purge.ts), letting go of what quiet hours held on a route that no
 * longer holds, giving up held channels' events past the retention, and pruning old events.
 */
export class Housekeeper {
  private tidyTimer: Timer | undefined;
  private pruneTimer: Timer | undefined;
  private tidying: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(private readonly deps: HousekeepingDeps) {}

  start(): void {
    this.stopped = false;
    const prune = () => {
      void this.prune();
      this.pruneTimer = this.deps.clock.after(PRUNE_EVERY_MS, () => !this.stopped && prune());
    };
    const tidy = () => {
      void this.tidy();
      this.tidyTimer = this.deps.clock.after(TIDY_EVERY_MS, () => !this.stopped && tidy());
    };
    prune();
    tidy();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.tidyTimer?.cancel();
    this.pruneTimer?.cancel();
    await this.tidying;
  }

  /** A run is under way (for tests that wait for the engine to go quiet). */
  busy(): boolean {
    return this.tidying !== undefined;
  }

  /** Purges and releases what is waiting for it; one run at a time (a call meanwhile runs it again after). */
  tidy(): Promise<void> {
    if (this.tidying) {
      this.again = true;
      return this.tidying;
    }
    this.tidying = this.tidyOnce().finally(() => {
      this.tidying = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.tidy();
      }
    });
    return this.tidying;
  }

  private async tidyOnce(): Promise<void> {
    const { db, logger } = this.deps;
    try {
      const released = await inSteps(() => releaseQuiet(db, this.deps.clock.now()));
      if (released > 0) {
        logger.info({ released }, 'quiet hours no longer hold on a route: what they held goes out');
        this.deps.wake();
      }
      if (!(await anythingToPurge(db))) return;
      for (const route of await routesToPurge(db)) {
        const purged = await inSteps(() => purgeRouteStep(db, route));
        if (purged > 0) logger.info({ route_id: route.id, source_id: route.sourceId, deliveries: purged }, 'purged a removed route');
      }
      for (const sourceId of await sourcesToPurge(db)) {
        const purged = await inSteps(() => purgeSourceStep(db, sourceId));
        logger.info({ source_id: sourceId, events: purged }, 'purged a deleted source');
      }
    } catch (error) {
      logger.error({ err: error }, 'housekeeping failed; trying again shortly');
    }
  }

  private async prune(): Promise<void> {
    const { db, logger, metrics, clock, retentionMs } = this.deps;
    try {
      const now = clock.now();
      const expired = await expireHeld(db, now - retentionMs, now);
      if (expired > 0) {
        metrics.deliveries.inc({ outcome: 'failed' }, expired);
        logger.warn({ expired }, 'held events older than the retention gave up');
      }
      const removed = await pruneOlderThan(db, now - retentionMs, () => this.stopped);
      await pruneCards(db, now - retentionMs);
      await pruneDmClaims(db, now - DM_CLAIMS_KEPT_MS);
      if (removed > 0) logger.info({ removed }, 'pruned finished events');
    } catch (error) {
      logger.error({ err: error }, 'pruning failed');
    }
  }
}
