import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Database } from './database.js';
import { adoptKeyCheck } from './key-check.js';
import { replaceStoredSecret, storedSecrets } from './stored-secrets.js';

/** Stored form of an encrypted secret: enc:v1:<key id>:<nonce>:<ciphertext>:<tag>, base64url parts. */
const PREFIX = 'enc:v1:';

/** A start-up problem with the encryption key; its message names what to do. */
export class SecretKeyError extends Error {}

/** The database's secrets are sealed with a key this process does not hold (its key check differs). */
export class AnotherKeyError extends SecretKeyError {}

export interface SecretBox {
  /** What to store for a secret: encrypted when a key is configured, else the plain text. */
  seal(plain: string): string;
  /** The plain secret from what is stored (encrypted or, from before encryption, plain). */
  open(stored: string): string;
  readonly keyId: string | undefined;
}

/** Names a key without revealing it, so a stored value says which key sealed it. */
function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('dispatch-secret-key').update(key).digest('hex').slice(0, 8);
}

export function createSecretBox(key: Buffer | undefined, previousKeys: readonly Buffer[] = []): SecretBox {
  const keys = new Map([...previousKeys, ...(key ? [key] : [])].map((k) => [keyIdOf(k), k]));
  const currentId = key ? keyIdOf(key) : undefined;
  return {
    keyId: currentId,
    seal(plain) {
      if (!key || !currentId) return plain;
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(Buffer.from(currentId));
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return (
        PREFIX +
        [currentId, nonce, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join(':')
      );
    },
    open(stored) {
      if (!stored.startsWith(PREFIX)) return stored;
      const [id, nonce, ciphertext, tag] = stored.slice(PREFIX.length).split(':');
      const k = id ? keys.get(id) : undefined;
      if (!k || !nonce || ciphertext === undefined || !tag) {
        throw new SecretKeyError(
          `a signing secret is encrypted with key ${id ?? '?'}, which is not configured: set DISPATCH_ENCRYPTION_KEY (or DISPATCH_ENCRYPTION_KEY_PREVIOUS) to that key`,
        );
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(nonce, 'base64url'));
        decipher.setAAD(Buffer.from(id!));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretKeyError(
          `a stored secret (signing secret or Sentry token) encrypted with key ${id} does not decrypt: the stored value is damaged or the key is wrong`,
        );
      }
    },
  };
}

/**
 * At start-up, in one transaction: the key must be the database's (its key check, recorded by the
 * first start, else AnotherKeyError; a previous key's check moves to this key), every stored
 * secret must open with the configured keys (else a SecretKeyError), and, with a key configured,
 * every secret not yet sealed with it — plain text from before encryption, or sealed with a
 * previous key — is sealed with it.
 */
export function sealStoredSecrets(
  db: Database,
  box: SecretBox,
  keys: { key: Buffer; previous: readonly Buffer[] } | undefined,
  now: number,
): Promise<{ sealed: number }> {
  return db.transaction(async (tx) => {
    if (keys && (await adoptKeyCheck(tx, keys.key, keys.previous, now)) === 'another key') {
      throw new AnotherKeyError("the key is not the one this database's secrets are sealed with");
    }
    let sealed = 0;
    for (const row of await storedSecrets(tx)) {
      const plain = box.open(row.secret);
      const current = box.keyId !== undefined && row.secret.startsWith(`${PREFIX}${box.keyId}:`);
      if (box.keyId === undefined || current) continue;
      await replaceStoredSecret(tx, row.id, row.column, box.seal(plain));
      sealed += 1;
    }
    return { sealed };
  });
}
