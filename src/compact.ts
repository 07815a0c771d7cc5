import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadStorageConfig } from './config.js';
import { compactSqlite, openElsewhere, openSqlite } from './db/sqlite.js';
import { readEnvironment } from './env-file.js';
import { nativeModuleProblem } from './start-errors.js';

const HELP = `npm run compact — rewrites Dispatch's SQLite database without its free pages. Run it with Dispatch stopped.

The file does not shrink by itself when events are pruned or sources deleted: SQLite keeps the
freed pages for new rows. A VACUUM gives them back to the disk, and with them anything deleted
rows left in them. It rewrites the whole file (about 30 s a GB) and holds the database meanwhile,
so Dispatch never runs it on its own: at start it would refuse webhooks for that long.

Reads DATABASE_PATH (default ./data/dispatch.db) from the environment or ./.env. Needs free disk
of about the file's size. With DATABASE_URL (Postgres), Postgres's autovacuum does this.`;

/** `npm run compact`. */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return say(HELP);
  const config = loadStorageConfig(readEnvironment(process.env, process.cwd()));
  if (config.databaseUrl) return fail('DATABASE_URL is set: the data is in Postgres, whose autovacuum reclaims space');
  if (!existsSync(config.databasePath)) return fail(`no database at ${config.databasePath} (DATABASE_PATH)`);
  // Its VACUUM would hold the write lock for the whole rewrite while the other process waits, then fails.
  if (openElsewhere(config.databasePath))
    return fail(`${config.databasePath} is open in another process (is Dispatch running?): stop Dispatch, then run npm run compact again`);
  const before = statSync(config.databasePath).size;
  const started = performance.now();
  const db = openSqlite(config.databasePath);
  try {
    await compactSqlite(db);
  } finally {
    await db.close();
  }
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const ms = Math.round(performance.now() - started);
  return say(`Compacted ${config.databasePath}: ${mib(before)} → ${mib(statSync(config.databasePath).size)} in ${ms} ms.`);
}

function say(text: string): number {
  console.log(text);
  return 0;
}

function fail(text: string): number {
  console.error(`compact: ${text}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) for (const problem of error.problems) console.error(`compact: configuration error: ${problem}`);
    else console.error(`compact: ${nativeModuleProblem((error as Error).message ?? '') ?? (error as Error).message ?? String(error)}`);
    process.exit(1);
  },
);
