import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from './db/database.js';
import { queueStats } from './db/queue.js';

/**
 * Prometheus metrics, one registry per process (tests build their own). The queue gauges read the
 * database, and keep their last values while it is away (`databaseAway`, src/spool).
 */
export function createMetrics(db: Database, now: () => number, databaseAway: () => boolean = () => false) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dispatch_' });
  return {
    registry,
    webhooks: new Counter({
      name: 'dispatch_webhooks_total',
      help: 'Webhook requests answered, by HTTP status and event type ("unknown" until the request is verified, "other" for a type Sentry is not known to send)',
      labelNames: ['status', 'event_type'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'dispatch_deliveries_total',
      help: 'Events by delivery outcome: delivered, retry (a failed attempt), held (its channel put on hold), redrawn (sent again more plainly after Discord refused it), failed (given up), dm_failed (a member’s direct message Discord would not let reach them: theirs, not the source’s) or collapsed (into a flood summary; a member’s direct message another source’s copy of the same Sentry change tells)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    filtered: new Counter({
      name: 'dispatch_events_filtered_total',
      help: 'Route filters that kept an accepted event out (an event two routes filter counts twice)',
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'dispatch_delivery_latency_seconds',
      help: 'From webhook received to message accepted by Discord',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 900, 3600],
      registers: [registry],
    }),
    rateLimitHits: new Counter({
      name: 'dispatch_discord_rate_limit_hits_total',
      help: 'Discord rate limits met: kind="429" for a 429 answer, kind="wait" when discord.js held a request back',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'dispatch_queue_depth',
      help: 'Events waiting to be delivered',
      registers: [registry],
      async collect() {
        if (!databaseAway()) this.set((await queueStats(db, now())).depth);
      },
    }),
    oldestPending: new Gauge({
      name: 'dispatch_queue_oldest_pending_seconds',
      help: 'Age of the oldest event waiting to be delivered (0 when none)',
      registers: [registry],
      async collect() {
        if (!databaseAway()) this.set(((await queueStats(db, now())).oldestPendingAgeMs ?? 0) / 1000);
      },
    }),
    spooled: new Counter({
      name: 'dispatch_spool_events_total',
      help: "Webhooks kept in this replica's spool while Postgres was away, and what became of them when drained: spooled, duplicate (the same bytes already spooled), refused (the spool full: 503), stored, stored_duplicate (Postgres had it already), source_gone (the source deleted meanwhile: dropped), unreadable or rejected (by Postgres: dropped, logged)",
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    spoolDepth: new Gauge({
      name: 'dispatch_spool_depth',
      help: "Events in this replica's spool, waiting for Postgres",
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: 'dispatch_spool_bytes',
      help: "Bytes of webhook bodies in this replica's spool (the cap is SPOOL_MAX_BYTES)",
      registers: [registry],
    }),
    databaseAway: new Gauge({
      name: 'dispatch_database_away',
      help: '1 while Postgres does not answer this replica in time (webhooks go to its spool), else 0',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
