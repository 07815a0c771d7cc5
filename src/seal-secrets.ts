import { existsSync, statSync } from 'node:fs';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { KEY_FILE_ADVICE, loadOrCreateKeyFile, readKeyFile, type KeyPlace } from './db/key-file.js';
import { AnotherKeyError, createSecretBox, sealStoredSecrets, SecretKeyError, type SecretBox } from './db/secret-box.js';
import { compactSqlite, overwritingOldValues } from './db/sqlite.js';
import type { Logger } from './logger.js';

/**
 * Start-up's key: where it comes from (DISPATCH_ENCRYPTION_KEY, else the key file), proof that it
 * is the database's (src/db/key-check.ts), and every stored secret sealed with it before anything
 * reads one. Every refusal is one line naming the variable or the file.
 */

/**
 * The key file beside the database (made on first start; with DATABASE_URL it must exist: each
 * replica would make its own), unless DISPATCH_ENCRYPTION_KEY is set.
 */
function sealingKey(config: Config, logger: Logger): { key: Buffer | undefined; previous: Buffer[]; place: KeyPlace } {
  const previous = config.previousEncryptionKey ? [config.previousEncryptionKey] : [];
  if (config.encryptionKey) {
    // A key file from before the variable was set still opens what it sealed, which is sealed again with the variable's key.
    if (config.keyFile && existsSync(config.keyFile)) previous.push(readKeyFile(config.keyFile));
    return { key: config.encryptionKey, previous, place: { kind: 'variable' } };
  }
  if (!config.keyFile) return { key: undefined, previous, place: { kind: 'none' } };
  const { key, created, looseMode } = loadOrCreateKeyFile(config.keyFile, { create: !config.databaseUrl });
  if (created) logger.info({ key_file: config.keyFile }, `made a key file to seal signing secrets and Sentry tokens: ${KEY_FILE_ADVICE}`);
  if (looseMode) logger.warn({ key_file: config.keyFile }, 'the key file can be read by other users: `chmod 600` it');
  return { key, previous, place: { kind: 'file', path: config.keyFile } };
}

/** A key the database refused, in one line naming where the key came from and what to do. */
function keyRefusal(error: SecretKeyError, place: KeyPlace): SecretKeyError {
  const isFile = place.kind === 'file';
  const which = isFile ? `the key file ${place.path} (DISPATCH_KEY_FILE)` : 'DISPATCH_ENCRYPTION_KEY';
  if (error instanceof AnotherKeyError) {
    return new SecretKeyError(
      isFile
        ? `${which} is not the key this database's secrets are sealed with: put back the key file made with this database or copy the one the other replicas use, or set DISPATCH_ENCRYPTION_KEY to that key`
        : `${which} is not the key this database's secrets are sealed with (another replica or an earlier start used another): set DISPATCH_ENCRYPTION_KEY to the key the others use; to change keys, give the old one as DISPATCH_ENCRYPTION_KEY_PREVIOUS`,
    );
  }
  if (!isFile) return error;
  return new SecretKeyError(
    `the key file ${place.path} does not open the stored secrets (${error.message}): put back the key file made with this database, or set DISPATCH_ENCRYPTION_KEY to the key that sealed them`,
  );
}

/** Up to this size the file is rewritten at start after plain secrets were sealed (about a second); a larger one waits for `npm run compact`. */
const COMPACT_AT_SEALING_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Older copies of the secrets just sealed — rows an earlier release moved as pages split, or freed
 * when it deleted sources — are out of secure_delete's reach: only a rewrite of the file removes
 * them. A small file is rewritten now; a large one would hold webhooks back for as long (31 s for
 * 1.2 GB), so the log says to run `npm run compact` with Dispatch stopped.
 */
async function leaveNoOldCopies(db: Database, path: string, logger: Logger): Promise<void> {
  const bytes = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (bytes <= COMPACT_AT_SEALING_MAX_BYTES) return compactSqlite(db);
  logger.warn(
    { database_path: path, bytes },
    "older copies of the secrets sealed now may remain in the database file's free pages: stop Dispatch and run `npm run compact` to rewrite it without them",
  );
}

/**
 * The key that seals signing secrets and tokens, proven to be the database's (every replica's),
 * with every stored secret sealed by it before anything reads them.
 */
export async function sealSecrets(
  config: Config,
  db: Database,
  logger: Logger,
  now: number,
): Promise<{ secrets: SecretBox; keyPlace: KeyPlace }> {
  const { key, previous, place } = sealingKey(config, logger);
  const secrets = createSecretBox(key, previous);
  try {
    const seal = () => sealStoredSecrets(db, secrets, key ? { key, previous } : undefined, now);
    // The values replaced are zeroed where they were (secure_delete), and the log emptied.
    const { sealed } = db.dialect === 'sqlite' ? await overwritingOldValues(db, seal) : await seal();
    if (sealed > 0) {
      logger.info({ sealed, key_id: secrets.keyId }, 'sealed stored signing secrets and Sentry tokens with the current key');
      if (db.dialect === 'sqlite') await leaveNoOldCopies(db, config.databasePath, logger);
    }
  } catch (error) {
    throw error instanceof SecretKeyError ? keyRefusal(error, place) : error;
  }
  if (place.kind === 'none')
    logger.warn('no key to seal secrets with (an in-memory database): signing secrets and Sentry tokens are kept in plain text');
  else
    logger.info(
      { key_id: secrets.keyId, key_file: place.kind === 'file' ? place.path : undefined },
      'signing secrets and Sentry tokens are sealed',
    );
  return { secrets, keyPlace: place };
}
