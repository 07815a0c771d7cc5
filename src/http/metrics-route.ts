import { timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { Request, RequestHandler } from 'express';
import type { Metrics } from '../metrics.js';
import { eventTypeLabel } from '../sentry/event-type.js';
import { HttpError } from './http-error.js';

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The connection comes from this machine (IPv4 loopback, IPv6 loopback, or IPv4 loopback mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.replace(/^::ffff:/i, '');
  return address === '::1' || (isIPv4(v4) && v4.startsWith('127.'));
}

/**
 * Headers a reverse proxy adds for the visitor it forwards (nginx's and Caddy's usual ones): a
 * request carrying one comes from elsewhere, whatever address the proxy on this machine connects from.
 */
const FORWARDED_FOR = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/** The request is this machine's own: from loopback, and not forwarded by a proxy for someone else. */
export function fromThisMachine(req: Pick<Request, 'socket' | 'headers'>): boolean {
  return isLoopback(req.socket.remoteAddress) && !FORWARDED_FOR.some((name) => req.headers[name] !== undefined);
}

/**
 * GET /metrics in Prometheus text format. With METRICS_TOKEN set, for `Authorization: Bearer
 * <token>` from anywhere; without it, for this machine only (a scraper on the host, or a tunnel),
 * so that a listener on 0.0.0.0 does not tell the internet its queue depth and event types.
 * Behind a reverse proxy on the same host every request comes from loopback: one the proxy marks
 * as forwarded for someone is not this machine's (and the README says to expose only /hooks/ and
 * /sentry-ui/ there).
 */
export function metricsRoute(metrics: Metrics, token: string | undefined): RequestHandler {
  return async (req, res) => {
    if (token === undefined && !fromThisMachine(req)) {
      throw new HttpError(403, 'metrics answer only this machine: set METRICS_TOKEN to read them from elsewhere');
    }
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
