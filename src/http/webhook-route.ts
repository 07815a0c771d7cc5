import express, { type RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import type { WriteEvent } from '../db/event-writer.js';
import type { SecretBox } from '../db/secret-box.js';
import { findWebhookTarget, type WebhookTarget } from '../db/sources.js';
import type { Logger } from '../logger.js';
import { eventTypeOf } from '../sentry/event-type.js';
import { checkTimestamp, verifySignature } from '../sentry/verify.js';
import { HttpError } from './http-error.js';

export interface WebhookDeps {
  db: Db;
  logger: Logger;
  maxBodyBytes: number;
  /** Stores an accepted event durably; resolves once it is committed. */
  writeEvent: WriteEvent;
  timestampToleranceMs: number;
  now: () => number;
  /** Opens the stored (possibly encrypted) signing secret. */
  secrets: SecretBox;
  /** Called after an event is stored, so the delivery worker can pick it up; never awaited. */
  onAccepted: () => void;
}

/** Slugs are 24 random bytes in base64url; anything else cannot name a source. */
const SLUG = /^[A-Za-z0-9_-]{32}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Sentry's payloads nest about a dozen levels; far deeper is an attack on whatever walks the tree. */
export const MAX_JSON_DEPTH = 64;

/** One answer for an unknown, disabled or deleted source, so the URL space reveals nothing. */
const unknownSource = () => new HttpError(404, 'unknown source', 'unknown source');

/**
 * POST /hooks/:slug. Order matters: the cheap refusals come before reading the body, and the
 * signature is checked on the raw bytes before anything parses them.
 */
export function webhookRoute(deps: WebhookDeps): RequestHandler[] {
  const findSource: RequestHandler<{ slug: string }> = (req, res, next) => {
    const slug = req.params.slug;
    const source = SLUG.test(slug) ? findWebhookTarget(deps.db, slug) : undefined;
    if (!source || !source.enabled) throw unknownSource();
    if (!req.is('application/json'))
      throw new HttpError(415, 'content-type must be application/json', 'content-type must be application/json');
    res.locals.source = source;
    next();
  };

  // No inflating: Sentry sends plain JSON, and a compressed body could expand far past the limit.
  const readBody = express.raw({ type: () => true, limit: deps.maxBodyBytes, inflate: false });

  const accept: RequestHandler = async (req, res) => {
    const source = res.locals.source as WebhookTarget;
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // Plain fields rather than a child logger: this runs for every request.
    const about = { source_id: source.id, guild_id: source.guildId };

    if (source.signingSecret === null) {
      deps.logger.debug(about, 'source has no signing secret: signature check skipped');
    } else {
      const verdict = verifySignature(body, deps.secrets.open(source.signingSecret), req.get('sentry-hook-signature'));
      if (!verdict.ok) {
        deps.logger.info({ ...about, outcome: 'rejected', reason: verdict.reason }, 'webhook refused');
        throw new HttpError(401, verdict.reason, verdict.reason);
      }
    }

    const fresh = checkTimestamp(req.get('sentry-hook-timestamp'), deps.now(), deps.timestampToleranceMs);
    if (!fresh.ok) {
      deps.logger.info({ ...about, outcome: 'rejected', reason: fresh.reason }, 'webhook refused');
      throw new HttpError(401, fresh.reason, fresh.reason);
    }

    const payload = parseJson(body);
    const typed = eventTypeOf(req.get('sentry-hook-resource'), payload);
    if (!typed.ok) throw new HttpError(400, typed.reason, typed.reason);

    res.locals.eventType = typed.eventType.type;
    const accepted = await deps.writeEvent({ sourceId: source.id, channelId: source.channelId, eventType: typed.eventType.type, body });
    deps.logger.info(
      { event_id: accepted.id, ...about, event_type: typed.eventType.type, outcome: accepted.duplicate ? 'duplicate' : 'accepted' },
      'webhook received',
    );
    res.status(202).json({ event_id: accepted.id });
    if (!accepted.duplicate) deps.onAccepted();
  };

  return [findSource as RequestHandler, readBody, accept];
}

function parseJson(body: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, 'body is not valid UTF-8', 'body is not valid UTF-8');
  }
  if (nestingDepth(text) > MAX_JSON_DEPTH) throw new HttpError(400, 'JSON nested too deeply', 'JSON nested too deeply');
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON', 'body is not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new HttpError(400, 'body must be a JSON object', 'body must be a JSON object');
  }
  return payload as Record<string, unknown>;
}

/** Deepest bracket nesting outside strings; one pass over the text, stopping at the first excess. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > MAX_JSON_DEPTH) return deepest;
    } else if (c === 125 || c === 93) depth--;
  }
  return deepest;
}
