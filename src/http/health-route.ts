import type { RequestHandler } from 'express';
import type { Database } from '../db/database.js';
import { queueStats } from '../db/queue.js';
import { countHolds } from '../db/holds.js';
import type { DeliveryHealth } from '../delivery/record.js';
import type { Spool } from '../spool/spool.js';

export interface HealthDeps {
  db: Database;
  /** Where the Discord gateway stands: "ready", "connecting", "disconnected"... */
  gatewayState: () => string;
  /** `single` (SQLite), or with Postgres `leader` (holds the gateway) or `standby` (takes webhooks and delivers; no gateway). */
  role: () => 'single' | 'leader' | 'standby';
  deliveryHealth: () => DeliveryHealth;
  now: () => number;
  /** With Postgres, this replica's spool: while it takes webhooks, the replica is healthy without Postgres. */
  spool?: Pick<Spool, 'databaseAnswers' | 'health'>;
}

/**
 * 200 while webhooks are acknowledged: the database answers, or (Postgres) this replica's spool
 * takes them. Discord being down is reported, not fatal (events queue up). `degraded` while the
 * gateway is not connected, Discord fails, deliveries cannot be recorded, or Postgres is away. A
 * load balancer that health-checks would otherwise take every replica out during a Postgres
 * failover and refuse the webhooks itself.
 */
export function healthRoute(deps: HealthDeps): RequestHandler {
  return async (_req, res) => {
    const role = deps.role();
    // A standby holds no gateway on purpose: it is healthy without one.
    const gateway = role === 'standby' ? 'standby' : deps.gatewayState();
    const replica = role === 'single' ? {} : { replica: role };
    if (deps.spool && !(await deps.spool.databaseAnswers())) {
      const { spooled, full } = deps.spool.health();
      res.status(full ? 503 : 200).json({
        status: full ? 'unavailable' : 'degraded',
        database: 'away',
        spooled,
        ...(full ? { spool: 'full' } : {}),
        ...replica,
        discord: { gateway },
      });
      return;
    }
    if (!deps.spool && !(await deps.db.isUsable())) {
      res.status(503).json({ status: 'unavailable', database: 'error', discord: { gateway } });
      return;
    }
    const queue = await queueStats(deps.db, deps.now());
    const delivery = deps.deliveryHealth();
    const healthy = (gateway === 'ready' || gateway === 'standby') && !delivery.outage && !delivery.recordingFailing;
    res.status(200).json({
      status: healthy ? 'ok' : 'degraded',
      database: 'ok',
      ...(deps.spool ? { spooled: deps.spool.health().spooled } : {}),
      ...replica,
      discord: { gateway },
      delivery: {
        state: delivery.recordingFailing ? 'cannot record deliveries' : delivery.outage ? 'discord failing: probing' : 'ok',
        held_channels: await countHolds(deps.db),
      },
      queue: { depth: queue.depth, oldest_pending_age_ms: queue.oldestPendingAgeMs },
    });
  };
}
