import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadStorageConfig } from './config.js';
import { BackupError, backupSqlite } from './db/backup.js';
import { KEY_FILE_ADVICE } from './db/key-file.js';
import { readEnvironment } from './env-file.js';
import { nativeModuleProblem } from './start-errors.js';

const HELP = `npm run backup -- <file> — an online, consistent copy of Dispatch's SQLite database.

Safe while Dispatch runs and takes webhooks: the copy is made through SQLite's backup API (a copy
of dispatch.db alone is not a backup: recent commits live in dispatch.db-wal), checked, and given
its name only once complete. It never overwrites a file.

Reads DATABASE_PATH (default ./data/dispatch.db) from the environment or ./.env. The key that
seals signing secrets and Sentry tokens is not in the copy: ${KEY_FILE_ADVICE}.
With DATABASE_URL (Postgres), use pg_dump instead: pg_dump --format=custom --file=dispatch.dump "$DATABASE_URL".`;

/** `npm run backup -- <file>`. */
async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  if (values.help) return say(HELP, 0);
  if (positionals.length !== 1) return fail('name the file to write: npm run backup -- /var/backups/dispatch-$(date +%F).db (see --help)');
  const config = loadStorageConfig(readEnvironment(process.env, process.cwd()));
  if (config.databaseUrl)
    return fail(
      'DATABASE_URL is set: the data is in Postgres; back it up with pg_dump --format=custom --file=dispatch.dump "$DATABASE_URL"',
    );
  const destination = resolve(positionals[0]!);
  const started = performance.now();
  const copy = await backupSqlite(config.databasePath, destination);
  const ms = Math.round(performance.now() - started);
  const size = `${(copy.bytes / 1024 / 1024).toFixed(1)} MiB`;
  say(
    `Backed up ${config.databasePath} to ${destination}: ${copy.events} events, ${copy.sources} sources, ${size}, checked by SQLite, in ${ms} ms.`,
  );
  say(
    config.encryptionKey
      ? `Its secrets are sealed with DISPATCH_ENCRYPTION_KEY, which is not in the copy: keep that key, stored apart from the database backups.`
      : `The key file ${config.keyFile} is not in the copy: ${KEY_FILE_ADVICE}.`,
  );
  return 0;
}

function say(text: string, code = 0): number {
  console.log(text);
  return code;
}

function fail(text: string): number {
  console.error(`backup: ${text}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) for (const problem of error.problems) console.error(`backup: configuration error: ${problem}`);
    else if (error instanceof BackupError) console.error(`backup: ${error.message}`);
    else console.error(`backup: ${nativeModuleProblem((error as Error).message ?? '') ?? (error as Error).message ?? String(error)}`);
    process.exit(1);
  },
);
