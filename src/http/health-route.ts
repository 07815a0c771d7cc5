import type { RequestHandler } from 'express';
import type { Database } from '../db/database.js';
import { queueStats } from '../db/events.js';

export interface HealthDeps {
  db: Database;
  /** Where the Discord gateway stands: "ready", "connecting", "disconnected"... */
  gatewayState: () => string;
  now: () => number;
}

/** 200 while the database answers (Discord being down is reported, not fatal: events queue up). */
export function healthRoute(deps: HealthDeps): RequestHandler {
  return async (_req, res) => {
    const gateway = deps.gatewayState();
    if (!(await deps.db.isUsable())) {
      res.status(503).json({ status: 'unavailable', database: 'error', discord: { gateway } });
      return;
    }
    const queue = await queueStats(deps.db, deps.now());
    res.status(200).json({
      status: gateway === 'ready' ? 'ok' : 'degraded',
      database: 'ok',
      discord: { gateway },
      queue: { depth: queue.depth, oldest_pending_age_ms: queue.oldestPendingAgeMs },
    });
  };
}
