import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSecretBox, SecretKeyError } from '../../src/db/secret-box.js';

const key = randomBytes(32);

describe('secret box', () => {
  it('round-trips a secret through AES-256-GCM with a fresh nonce each time', () => {
    const box = createSecretBox(key);
    const a = box.seal('client-secret-123');
    const b = box.seal('client-secret-123');
    expect(a).not.toBe(b);
    expect(a).not.toContain('client-secret-123');
    expect(a.startsWith(`enc:v1:${createSecretBox(key).keyId}:`)).toBe(true);
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
    expect(() => createSecretBox(key).open(sealed)).toThrow(createSecretBox(other).keyId!);
    expect(() => createSecretBox(undefined).open(sealed)).toThrow(/DISPATCH_ENCRYPTION_KEY/);
    expect(createSecretBox(key, [other]).open(sealed)).toBe('s');
  });

  it('detects a tampered value', () => {
    const sealed = createSecretBox(key).seal('secret');
    const parts = sealed.split(':');
    parts[4] = Buffer.from('Xecret').toString('base64url');
    expect(() => createSecretBox(key).open(parts.join(':'))).toThrow(/does not decrypt/);
  });

  it('reads DISPATCH_ENCRYPTION_KEY as 64 hex characters or base64, and only if it is 32 bytes', () => {
    const keyFrom = (value: string) => loadConfig({ DISCORD_TOKEN: 't', DISPATCH_ENCRYPTION_KEY: value }).encryptionKey;
    expect(keyFrom(key.toString('hex'))?.equals(key)).toBe(true);
    expect(keyFrom(key.toString('base64'))?.equals(key)).toBe(true);
    expect(() => keyFrom(randomBytes(16).toString('base64'))).toThrow(/DISPATCH_ENCRYPTION_KEY must be 32 bytes/);
    expect(() => keyFrom('not a key')).toThrow(/DISPATCH_ENCRYPTION_KEY must be 32 bytes/);
  });
});
