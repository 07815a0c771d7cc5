import type { Database } from '../db/database.js';
import { liveWebhookTargets, type WebhookTarget } from '../db/sources.js';
import { onTargetsChanged, readClock, rememberLiveTargets } from '../db/target-cache.js';
import type { Logger } from '../logger.js';
import { withDeadline } from './deadline.js';

/** Logged once the first read of every live source is done. */
export const KNOWN_SOURCES_READ = 'the live sources are read: webhooks for any of them are taken into the spool while Postgres is away';

/** How often the standby copy is read again (and soon after a change made on this replica). */
export const KNOWN_TARGETS_EVERY_MS = 30_000;
/** After a change on this replica: a burst of changes is one read. */
const AFTER_CHANGE_MS = 200;
/**
 * A change reads again no sooner than this after the last read began: changes come from every
 * server (members' links too), and each read is every live source.
 */
export const CHANGE_READ_GAP_MS = 5_000;
/**
 * Sources kept at most (a few hundred bytes each): past this many, the rest are taken into the spool
 * only once this replica has read them itself, as before.
 */
export const KNOWN_TARGETS_MAX = 50_000;

export interface KnownTargetsDeps {
  db: Database;
  logger: Logger;
  /** How long each page may wait for Postgres (SPOOL_AFTER). */
  deadlineMs: number;
  /** Postgres is known to be away: nothing is read (the last copy stands). */
  isAway: () => boolean;
  everyMs?: number;
}

/**
 * Each replica's standby copy of every live source's webhook target (secret, state, routes), read
 * at start in bounded pages and again every KNOWN_TARGETS_EVERY_MS: while Postgres is away, a
 * webhook for any live source is verified and taken into the spool, not only for the sources this
 * replica happened to receive a webhook for before (src/db/target-cache.ts `lastReadTarget`). A
 * source deleted, disabled or left without routes is not in it, and stays refused.
 */
export class KnownTargets {
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (a change never puts off a read already due sooner). */
  private dueAt = Infinity;
  private reading: Promise<boolean> | undefined;
  /** A read asked for while one is under way: made after it, so it sees what changed meanwhile. */
  private again: Promise<boolean> | undefined;
  private stopListening: (() => void) | undefined;
  private readOnce = false;
  /** When the last read began (performance.now()). */
  private lastReadAt = -Infinity;
  private stopped = false;

  constructor(private readonly deps: KnownTargetsDeps) {}

  start(): void {
    this.stopListening = onTargetsChanged(() =>
      this.schedule(Math.max(AFTER_CHANGE_MS, this.lastReadAt + CHANGE_READ_GAP_MS - performance.now())),
    );
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopListening?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // A steady stream of changes must not put the read off for ever: only a sooner one replaces the timer.
    if (this.timer !== undefined && performance.now() + ms >= this.dueAt) return;
    clearTimeout(this.timer);
    this.dueAt = performance.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      void this.refresh().finally(() => this.schedule(this.deps.everyMs ?? KNOWN_TARGETS_EVERY_MS));
    }, ms);
    this.timer.unref();
  }

  /**
   * Reads every live source again; true when the copy was replaced (false: Postgres away or not
   * answering, the last copy stands). Asked while a read is under way (it may have read the
   * sources before a change), one more read is made after it.
   */
  refresh(): Promise<boolean> {
    if (this.reading)
      return (this.again ??= this.reading.then(() => {
        this.again = undefined;
        return this.refresh();
      }));
    return (this.reading = this.readAll().finally(() => (this.reading = undefined)));
  }

  private async readAll(): Promise<boolean> {
    const { db, logger, deadlineMs } = this.deps;
    if (this.deps.isAway()) return false;
    const at = readClock();
    this.lastReadAt = performance.now();
    const targets = new Map<string, WebhookTarget>();
    try {
      for (let after: number | undefined = 0; after !== undefined && targets.size < KNOWN_TARGETS_MAX; ) {
        const page: Awaited<ReturnType<typeof liveWebhookTargets>> = await withDeadline(
          liveWebhookTargets(db, after),
          deadlineMs,
          'the read of the live sources',
        );
        for (const [slug, target] of page.targets) targets.set(slug, target);
        after = page.next;
      }
    } catch (error) {
      logger.debug({ err: error }, 'could not read the live sources: the last copy stands');
      return false;
    }
    rememberLiveTargets(db, targets, at, targets.size < KNOWN_TARGETS_MAX);
    if (!this.readOnce) {
      this.readOnce = true;
      logger.info({ sources: targets.size }, KNOWN_SOURCES_READ);
    }
    if (targets.size >= KNOWN_TARGETS_MAX)
      logger.warn(
        { kept: targets.size },
        'more live sources than a replica keeps a standby copy of: the rest are taken into the spool only once read',
      );
    return true;
  }
}
