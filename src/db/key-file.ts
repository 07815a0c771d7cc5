import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SecretKeyError } from './secret-box.js';
import { parseKey } from '../secret-key.js';

/**
 * What to do with the key file, in the same words wherever it is said (the start-up log, `source
 * info`, `npm run backup`, the README): a copy of the database alone opens no secret, so the key
 * is kept, but not beside the database's backups.
 */
export const KEY_FILE_ADVICE = 'back it up, and store that copy apart from the database backups';

/** Where the key that seals secrets comes from: said in the start-up log and by `/dispatch source info`. */
export type KeyPlace = { kind: 'variable' } | { kind: 'file'; path: string } | { kind: 'none' };

/**
 * The key in `path`, made on first start: 32 random bytes, base64, in a file only this user may
 * read or write (0600). Two processes starting at once end up with the same key (see
 * `createKeyFile`). A file that holds no key stops start-up with a message naming it. With
 * `create: false` (replicas on Postgres: each machine would make its own) a missing file stops
 * start-up too.
 */
export function loadOrCreateKeyFile(path: string, { create = true } = {}): { key: Buffer; created: boolean; looseMode: boolean } {
  if (!create && !existsSync(path)) {
    throw new SecretKeyError(
      `the key file ${path} (DISPATCH_KEY_FILE) does not exist: with DATABASE_URL every replica must hold the same key, so Dispatch does not make one; copy the file the other replicas use, or make it once (\`openssl rand -base64 32 > ${path}\`, mode 0600) and give each replica a copy`,
    );
  }
  mkdirSync(dirname(path), { recursive: true });
  const created = !existsSync(path) && createKeyFile(path);
  const key = readKeyFile(path);
  // Readable by the group or others: said at start-up, not changed behind the owner's back.
  const looseMode = process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0;
  return { key, created, looseMode };
}

/**
 * Makes the key file unless another process just did; false when one did. The key is written (and
 * flushed to disk) in a file of its own beside it, then linked into place: a link never replaces a
 * file, and the file appears with its key in it. So no process ever reads the key file empty or
 * half written, and whoever links second reads the winner's key.
 */
function createKeyFile(path: string): boolean {
  const draft = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(draft, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(path)) return false;
    throw new SecretKeyError(`cannot create the key file ${path}: ${(error as Error).message}`);
  } finally {
    rmSync(draft, { force: true });
  }
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
