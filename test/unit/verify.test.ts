import { createHmac } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { describe, expect, it } from 'vitest';
import { checkTimestamp, sign, verifySignature } from '../../src/sentry/verify.js';
import { loadFixture, serializeLikeSentry } from '../support/sentry.js';

const SECRET = 'a1b2c3-client-secret';
const body = Buffer.from(serializeLikeSentry(loadFixture('issue.created.json')));
const good = createHmac('sha256', SECRET).update(body).digest('hex');

describe('verifySignature', () => {
  it('accepts the HMAC-SHA256 of the exact body', () => {
    expect(verifySignature(body, SECRET, good)).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret', () => {
    expect(verifySignature(body, SECRET, sign(body, 'other-secret'))).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('refuses a missing or blank signature', () => {
    expect(verifySignature(body, SECRET, undefined)).toEqual({ ok: false, reason: 'missing signature' });
    expect(verifySignature(body, SECRET, '   ')).toEqual({ ok: false, reason: 'missing signature' });
  });

  it('refuses a tampered body', () => {
    const tampered = Buffer.from(body.toString().replace('"level":"fatal"', '"level":"debug"'));
    expect(tampered.equals(body)).toBe(false);
    expect(verifySignature(tampered, SECRET, good)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('refuses wrong-length and non-hex signatures as malformed', () => {
    expect(verifySignature(body, SECRET, good.slice(0, 63))).toEqual({ ok: false, reason: 'malformed signature' });
    expect(verifySignature(body, SECRET, `${good}00`)).toEqual({ ok: false, reason: 'malformed signature' });
    expect(verifySignature(body, SECRET, `${good.slice(0, 63)}g`)).toEqual({ ok: false, reason: 'malformed signature' });
    expect(verifySignature(body, SECRET, 'sha1=' + good)).toEqual({ ok: false, reason: 'malformed signature' });
  });

  it('accepts surrounding whitespace, uppercase hex and a sha256= prefix, which claim the same bytes', () => {
    expect(verifySignature(body, SECRET, `  ${good}\t`)).toEqual({ ok: true });
    expect(verifySignature(body, SECRET, good.toUpperCase())).toEqual({ ok: true });
    expect(verifySignature(body, SECRET, `sha256=${good}`)).toEqual({ ok: true });
    expect(verifySignature(body, SECRET, `SHA256=${good.toUpperCase()}`)).toEqual({ ok: true });
  });

  it('verifies a body whose non-ASCII characters Sentry escaped as \\uXXXX, over those exact bytes', () => {
    const payload = loadFixture('activity_alert.triggered.json');
    const wire = serializeLikeSentry(payload);
    expect(wire).toContain('\\ud83d\\udc40'); // the 👀 in alert.title, escaped as a surrogate pair
    expect(/[^\x00-\x7f]/.test(wire)).toBe(false);
    const signature = createHmac('sha256', SECRET).update(wire).digest('hex');
    expect(verifySignature(Buffer.from(wire), SECRET, signature)).toEqual({ ok: true });
    // Re-serializing the parsed payload gives other bytes, which must not verify.
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(wire)));
    expect(reserialized.equals(Buffer.from(wire))).toBe(false);
    expect(verifySignature(reserialized, SECRET, signature)).toEqual({ ok: false, reason: 'signature mismatch' });
  });
});

describe('checkTimestamp', () => {
  const now = 1_800_000_000_000;
  /** The default tolerance, from the one place defaults live. */
  const tolerance = loadConfig({ DISCORD_TOKEN: 't' }).timestampToleranceMs;
  const at = (offsetS: number) => String(Math.floor(now / 1000) + offsetS);
  it('accepts no header and a timestamp within the tolerance', () => {
    expect(checkTimestamp(undefined, now, tolerance)).toEqual({ ok: true });
    expect(checkTimestamp(at(-299), now, tolerance)).toEqual({ ok: true });
    expect(checkTimestamp(at(299), now, tolerance)).toEqual({ ok: true });
  });
  it('refuses old, future and malformed timestamps with distinct reasons', () => {
    expect(checkTimestamp(at(-301), now, tolerance)).toEqual({ ok: false, reason: 'timestamp too old' });
    expect(checkTimestamp(at(301), now, tolerance)).toEqual({ ok: false, reason: 'timestamp in the future' });
    expect(checkTimestamp('yesterday', now, tolerance)).toEqual({ ok: false, reason: 'invalid timestamp' });
    expect(checkTimestamp(at(-61), now, 60_000)).toEqual({ ok: false, reason: 'timestamp too old' });
  });
});
