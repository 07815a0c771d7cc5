import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { createEventWriter, type AcceptWebhook } from '../db/event-writer.js';
import { findWebhookTarget, type WebhookTarget } from '../db/sources.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { SpoolDrainer } from './drainer.js';
import { KnownTargets } from './known-targets.js';
import { SpoolFile } from './spool-file.js';
import { Spool } from './spool.js';

/** What the webhook route reads and writes through: with Postgres, this replica's spool in front of both. */
export interface WebhookStorage {
  findTarget: (slug: string) => Promise<WebhookTarget | undefined>;
  writeEvent: AcceptWebhook;
  spool?: Spool;
  drainer?: SpoolDrainer;
  /** Starts what runs beside the webhooks (with Postgres: the drain, and the standby copy of the sources). */
  start(): void;
  close(): Promise<void>;
}

/**
 * SQLite: the file is the database, nothing in front of it. Postgres: a spool file per replica, drained
 * when Postgres answers, and a standby copy of every live source to take their webhooks into it (src/spool).
 */
export function webhookStorage(
  config: Config,
  parts: { db: Database; logger: Logger; metrics: Metrics; now: () => number; stored: () => void },
): WebhookStorage {
  const { db, now } = parts;
  const findTarget = (slug: string) => findWebhookTarget(db, slug);
  const writeEvent = createEventWriter(db, now, config.dedupeWindowMs);
  if (!config.databaseUrl) return { findTarget, writeEvent, start: () => {}, close: async () => {} };
  const file = SpoolFile.open(config.spool.path, { synchronous: config.databaseSynchronous, maxBytes: config.spool.maxBytes });
  const common = { ...parts, file, deadlineMs: config.spool.afterMs, dedupeWindowMs: config.dedupeWindowMs };
  const spool = new Spool(common);
  const drainer = new SpoolDrainer({ ...common, spool });
  const known = new KnownTargets({ db, logger: parts.logger, deadlineMs: config.spool.afterMs, isAway: () => spool.isAway });
  if (file.count > 0) parts.logger.info({ spooled: file.count, spool: file.path }, 'the spool holds events from before: draining them');
  return {
    findTarget: (slug) => spool.findTarget(slug, () => findTarget(slug)),
    writeEvent: spool.writer(writeEvent),
    spool,
    drainer,
    start: () => {
      known.start();
      drainer.start();
    },
    close: async () => {
      known.stop();
      await drainer.stop();
      file.close();
    },
  };
}
