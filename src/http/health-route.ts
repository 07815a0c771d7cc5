import type { RequestHandler } from 'express';
import type { Database } from '../db/database.js';
import { queueStats } from '../db/deliveries.js';
import { countHolds } from '../db/holds.js';
import type { DeliveryHealth } from '../delivery/worker.js';

export interface HealthDeps {
  db: Database;
  /** Where the Discord gateway stands: "ready", "connecting", "disconnected"... */
  gatewayState: () => string;
  deliveryHealth: () => DeliveryHealth;
  now: () => number;
}

/**
 * 200 while the database answers: Discord being down is reported, not fatal (events queue up).
 * `degraded` while the gateway is not connected, Discord fails, or deliveries cannot be recorded.
 */
export function healthRoute(deps: HealthDeps): RequestHandler {
  return async (_req, res) => {
    const gateway = deps.gatewayState();
    if (!(await deps.db.isUsable())) {
      res.status(503).json({ status: 'unavailable', database: 'error', discord: { gateway } });
      return;
    }
    const queue = await queueStats(deps.db, deps.now());
    const delivery = deps.deliveryHealth();
    const healthy = gateway === 'ready' && !delivery.outage && !delivery.recordingFailing;
    res.status(200).json({
      status: healthy ? 'ok' : 'degraded',
      database: 'ok',
      discord: { gateway },
      delivery: {
        state: delivery.recordingFailing ? 'cannot record deliveries' : delivery.outage ? 'discord failing: probing' : 'ok',
        held_channels: await countHolds(deps.db),
      },
      queue: { depth: queue.depth, oldest_pending_age_ms: queue.oldestPendingAgeMs },
    });
  };
}
