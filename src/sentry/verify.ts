import { createHmac, timingSafeEqual } from 'node:crypto';

export type VerifyFailure = 'missing signature' | 'malformed signature' | 'signature mismatch';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * Normalizes the `Sentry-Hook-Signature` header. Sentry sends 64 lowercase hex characters; we also
 * accept surrounding whitespace, uppercase hex and a `sha256=` prefix (what other senders and
 * proxies add), because none of them changes which 32 bytes are claimed. Anything else is malformed.
 */
function parseSignatureHeader(header: string | undefined): Buffer | 'missing' | 'malformed' {
  if (header === undefined || header.trim() === '') return 'missing';
  const hex = header
    .trim()
    .replace(/^sha256=/i, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return 'malformed';
  return Buffer.from(hex, 'hex');
}

export function sign(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** HMAC-SHA256 of the exact body bytes, compared in constant time once the length is known to match. */
export function verifySignature(body: Buffer, secret: string, header: string | undefined): VerifyResult {
  const claimed = parseSignatureHeader(header);
  if (claimed === 'missing') return { ok: false, reason: 'missing signature' };
  if (claimed === 'malformed') return { ok: false, reason: 'malformed signature' };
  const expected = createHmac('sha256', secret).update(body).digest();
  if (claimed.length !== expected.length || !timingSafeEqual(claimed, expected)) {
    return { ok: false, reason: 'signature mismatch' };
  }
  return { ok: true };
}

export type TimestampFailure = 'invalid timestamp' | 'timestamp too old' | 'timestamp in the future';

/**
 * Sentry does not sign `Sentry-Hook-Timestamp`, so this only narrows the window in which a captured
 * request can be replayed by someone who did not also change the header; identical bodies are
 * deduplicated anyway. No header: nothing to check.
 */
export function checkTimestamp(
  header: string | undefined,
  nowMs: number,
  toleranceMs: number,
): { ok: true } | { ok: false; reason: TimestampFailure } {
  if (header === undefined) return { ok: true };
  const text = header.trim();
  if (!/^\d{1,12}(\.\d+)?$/.test(text)) return { ok: false, reason: 'invalid timestamp' };
  const sentAt = Number(text) * 1000;
  if (nowMs - sentAt > toleranceMs) return { ok: false, reason: 'timestamp too old' };
  if (sentAt - nowMs > toleranceMs) return { ok: false, reason: 'timestamp in the future' };
  return { ok: true };
}
