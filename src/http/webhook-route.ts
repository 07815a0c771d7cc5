import express, { type RequestHandler } from 'express';
import { DatabaseUnreachable, isForeignKeyViolation, type Database } from '../db/database.js';
import type { AcceptWebhook } from '../db/event-writer.js';
import { SourceGone } from '../db/events.js';
import type { SecretBox } from '../db/secret-box.js';
import { findWebhookTarget, SLUG_PATTERN, type WebhookTarget } from '../db/sources.js';
import { forgetTarget } from '../db/target-cache.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { routeEvent, type VerifiedEvent } from '../routing/incoming-event.js';
import { SpoolFull } from '../spool/spool-file.js';
import { eventTypeOf } from '../sentry/event-type.js';
import { decodeBody, parsePayload, PayloadError } from '../sentry/payload.js';
import { checkTimestamp } from '../sentry/verify.js';
import { checkSourceSignature } from './signature-check.js';
import { HttpError } from './http-error.js';

export interface WebhookDeps {
  db: Database;
  logger: Logger;
  maxBodyBytes: number;
  /**
   * The source a slug names and its routes: read from the database (cached for a second), or while
   * the database is away this replica's last good read of it (src/spool).
   */
  findTarget: (slug: string) => Promise<WebhookTarget | undefined>;
  /** Stores an accepted event durably, or while the database is away spools it; resolves once it is committed either way. */
  writeEvent: AcceptWebhook;
  timestampToleranceMs: number;
  now: () => number;
  /** Opens the stored (possibly encrypted) signing secret. */
  secrets: SecretBox;
  /** Called after an event is stored, so the delivery worker can pick it up; never awaited. */
  onAccepted: () => void;
  /** A source without a signing secret is refused (REQUIRE_SIGNATURE). */
  requireSignature: boolean;
  metrics: Metrics;
}

/** One answer for an unknown, disabled or deleted source, so the URL space reveals nothing. */
const unknownSource = () => new HttpError(404, 'unknown source', 'unknown source');

/** Not acknowledged, so Sentry's log shows it as failed: nothing is lost silently. */
function asUnavailable(error: unknown): never {
  if (error instanceof SpoolFull) throw new HttpError(503, 'database unreachable and spool full', 'database unreachable and spool full');
  if (error instanceof DatabaseUnreachable) throw new HttpError(503, 'database unreachable', 'database unreachable');
  throw error;
}

/**
 * POST /hooks/:slug. Order matters: the cheap refusals come before reading the body, and the
 * signature is checked on the raw bytes before anything parses them.
 */
export function webhookRoute(deps: WebhookDeps): RequestHandler[] {
  const findSource: RequestHandler<{ slug: string }> = async (req, res, next) => {
    const slug = req.params.slug;
    const source = SLUG_PATTERN.test(slug) ? await deps.findTarget(slug).catch(asUnavailable) : undefined;
    if (!source || !source.enabled) throw unknownSource();
    if (!req.is('application/json'))
      throw new HttpError(415, 'content-type must be application/json', 'content-type must be application/json');
    res.locals.source = source;
    res.locals.slug = slug;
    next();
  };

  // No inflating: Sentry sends plain JSON, and a compressed body could expand far past the limit.
  const readBody = express.raw({ type: () => true, limit: deps.maxBodyBytes, inflate: false });

  const accept: RequestHandler = async (req, res) => {
    const source = res.locals.source as WebhookTarget;
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // Plain fields rather than a child logger: this runs for every request.
    const about = { source_id: source.id, guild_id: source.guildId };

    const signature = checkSourceSignature(source, deps, body, req.get('sentry-hook-signature'));
    if (!signature.ok) {
      deps.logger.info({ ...about, outcome: 'rejected', reason: signature.reason }, 'webhook refused');
      const shown =
        signature.reason === 'signature required'
          ? 'signature required: set a signing secret with /dispatch source secret'
          : signature.reason;
      throw new HttpError(401, signature.reason, shown);
    }
    if (!signature.checked) deps.logger.debug(about, 'source has no signing secret: signature check skipped');

    const fresh = checkTimestamp(req.get('sentry-hook-timestamp'), deps.now(), deps.timestampToleranceMs);
    if (!fresh.ok) {
      deps.logger.info({ ...about, outcome: 'rejected', reason: fresh.reason }, 'webhook refused');
      throw new HttpError(401, fresh.reason, fresh.reason);
    }

    const text = readText(body);
    const payload = readPayload(text);
    const typed = eventTypeOf(req.get('sentry-hook-resource'), payload);
    if (!typed.ok) throw new HttpError(400, typed.reason, typed.reason);

    res.locals.eventType = typed.eventType.type;
    const slug = res.locals.slug as string;
    const verified: VerifiedEvent = { eventType: typed.eventType.type, body, text, payload };
    const store = async (target: WebhookTarget) => {
      const { through, filteredBy, input } = routeEvent(target, verified);
      return { through, filteredBy, accepted: await deps.writeEvent(input, slug).catch(asUnavailable) };
    };
    let stored;
    try {
      stored = await store(source);
    } catch (error) {
      if (!isForeignKeyViolation(error) && !(error instanceof SourceGone)) throw error;
      // A route (or the source) was removed after the look-up, by a command here or on another
      // replica: look again, past the cache, and store the event for the routes that are left.
      forgetTarget(deps.db, slug);
      const fresh = await findWebhookTarget(deps.db, slug);
      if (!fresh || !fresh.enabled || fresh.id !== source.id) throw unknownSource();
      // The source was deleted meanwhile after all: the same answer as for any unknown source.
      stored = await store(fresh).catch((again: unknown) =>
        Promise.reject(isForeignKeyViolation(again) || again instanceof SourceGone ? unknownSource() : again),
      );
    }
    const { through, filteredBy, accepted } = stored;
    if ('spooled' in accepted) {
      // Routed again when drained, with the routes as they are then: nothing to count yet.
      const outcome = accepted.duplicate ? 'duplicate' : 'spooled';
      deps.logger.info({ ...about, event_type: typed.eventType.type, outcome }, 'webhook received');
      res.status(202).json({ spooled: true });
      return;
    }
    const outcome = accepted.duplicate ? 'duplicate' : through.length === 0 ? 'filtered' : 'accepted';
    deps.logger.info({ event_id: accepted.id, ...about, event_type: typed.eventType.type, outcome }, 'webhook received');
    res.status(202).json({ event_id: accepted.id });
    if (!accepted.duplicate) {
      if (filteredBy.length > 0) deps.metrics.filtered.inc(filteredBy.length);
      if (through.length > 0) deps.onAccepted();
    }
  };

  return [findSource as RequestHandler, readBody, accept];
}

/** A body that is not a payload is the sender's error: 400, with the reason in Sentry's request log. */
function asBadRequest<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof PayloadError) throw new HttpError(400, error.message, error.message);
    throw error;
  }
}

const readText = (body: Buffer) => asBadRequest(() => decodeBody(body));
const readPayload = (text: string) => asBadRequest(() => parsePayload(text));
