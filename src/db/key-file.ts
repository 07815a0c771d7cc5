import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SecretKeyError } from './secret-box.js';
import { parseKey } from '../secret-key.js';

/** Where the key that seals secrets comes from: said in the start-up log and by `/dispatch source info`. */
export type KeyPlace = { kind: 'variable' } | { kind: 'file'; path: string } | { kind: 'none' };

/**
 * The key in `path`, made on first start: 32 random bytes, base64, in a file only this user may
 * read or write (0600), created exclusively, so two processes starting at once end up with the
 * same key. A file that holds no key stops start-up with a message naming it.
 */
export function loadOrCreateKeyFile(path: string): { key: Buffer; created: boolean; looseMode: boolean } {
  mkdirSync(dirname(path), { recursive: true });
  let created = false;
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    } finally {
      closeSync(fd);
    }
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SecretKeyError(`cannot create the key file ${path}: ${(error as Error).message}`);
    }
  }
  const key = readKeyFile(path);
  // Readable by the group or others: said at start-up, not changed behind the owner's back.
  const looseMode = process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0;
  return { key, created, looseMode };
}

/** The key in an existing key file; start-up stops, naming the file, when it holds none. */
export function readKeyFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SecretKeyError(`cannot read the key file ${path}: ${(error as Error).message}`);
  }
  const key = parseKey(text);
  if (!key) throw new SecretKeyError(`the key file ${path} does not hold a key (32 bytes as base64 or 64 hex characters)`);
  return key;
}
