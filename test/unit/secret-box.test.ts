import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, keyIdOf, parseEncryptionKey, SecretKeyError } from '../../src/db/secret-box.js';
import { checkTimestamp } from '../../src/sentry/verify.js';

const key = randomBytes(32);

describe('secret box', () => {
  it('round-trips a secret through AES-256-GCM with a fresh nonce each time', () => {
    const box = createSecretBox(key);
    const a = box.seal('client-secret-123');
    const b = box.seal('client-secret-123');
    expect(a).not.toBe(b);
    expect(a).not.toContain('client-secret-123');
    expect(a.startsWith(`enc:v1:${keyIdOf(key)}:`)).toBe(true);
    expect(box.open(a)).toBe('client-secret-123');
    expect(box.open(b)).toBe('client-secret-123');
  });

  it('passes plain text through when no key is set, and opens plain text from before encryption', () => {
    expect(createSecretBox(undefined).seal('plain')).toBe('plain');
    expect(createSecretBox(key).open('plain')).toBe('plain');
  });

  it('refuses a value sealed with another key, naming its key id', () => {
    const other = randomBytes(32);
    const sealed = createSecretBox(other).seal('s');
    expect(() => createSecretBox(key).open(sealed)).toThrow(SecretKeyError);
    expect(() => createSecretBox(key).open(sealed)).toThrow(keyIdOf(other));
    expect(() => createSecretBox(undefined).open(sealed)).toThrow(/DISPATCH_ENCRYPTION_KEY/);
    expect(createSecretBox(key, [other]).open(sealed)).toBe('s');
  });

  it('detects a tampered value', () => {
    const sealed = createSecretBox(key).seal('secret');
    const parts = sealed.split(':');
    parts[4] = Buffer.from('Xecret').toString('base64url');
    expect(() => createSecretBox(key).open(parts.join(':'))).toThrow(/does not decrypt/);
  });

  it('reads a key as 64 hex characters or base64, and only if it is 32 bytes', () => {
    expect(parseEncryptionKey(key.toString('hex'))?.equals(key)).toBe(true);
    expect(parseEncryptionKey(key.toString('base64'))?.equals(key)).toBe(true);
    expect(parseEncryptionKey(randomBytes(16).toString('base64'))).toBeUndefined();
    expect(parseEncryptionKey('not a key')).toBeUndefined();
  });
});

describe('checkTimestamp', () => {
  const now = 1_800_000_000_000;
  const at = (offsetS: number) => String(Math.floor(now / 1000) + offsetS);
  it('accepts no header and a timestamp within the tolerance', () => {
    expect(checkTimestamp(undefined, now)).toEqual({ ok: true });
    expect(checkTimestamp(at(-299), now)).toEqual({ ok: true });
    expect(checkTimestamp(at(299), now)).toEqual({ ok: true });
  });
  it('refuses old, future and malformed timestamps with distinct reasons', () => {
    expect(checkTimestamp(at(-301), now)).toEqual({ ok: false, reason: 'timestamp too old' });
    expect(checkTimestamp(at(301), now)).toEqual({ ok: false, reason: 'timestamp in the future' });
    expect(checkTimestamp('yesterday', now)).toEqual({ ok: false, reason: 'invalid timestamp' });
    expect(checkTimestamp(at(-61), now, 60_000)).toEqual({ ok: false, reason: 'timestamp too old' });
  });
});
