import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Metrics } from '../metrics.js';
import { eventTypeLabel } from '../sentry/event-type.js';
import { HttpError } from './http-error.js';

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** GET /metrics in Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`. */
export function metricsRoute(metrics: Metrics, token: string | undefined): RequestHandler {
  return async (req, res) => {
    if (token !== undefined) {
      const given = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1]?.trim();
      if (!given || !sameToken(given, token)) {
        res.set('WWW-Authenticate', 'Bearer');
        throw new HttpError(401, 'metrics need a bearer token');
      }
    }
    res.set('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };
}

/** Counts every answer on the webhook route by status and by the verified event type. */
export function countWebhooks(metrics: Metrics): RequestHandler {
  return (_req, res, next) => {
    res.once('finish', () => {
      metrics.webhooks.inc({ status: String(res.statusCode), event_type: eventTypeLabel(res.locals.eventType as string | undefined) });
    });
    next();
  };
}
