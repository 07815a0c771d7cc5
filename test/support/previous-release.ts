import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';

const MIGRATIONS = fileURLToPath(new URL('../../migrations/sqlite', import.meta.url));

interface Journal {
  entries: { idx: number; tag: string }[];
}

/**
 * A SQLite file as an earlier release left it: only the migrations up to `tag` applied (drizzle's
 * own bookkeeping included), so opening it with the current code is a real upgrade. `fill` then
 * writes rows the way that release did (plain SQL against its schema).
 */
export function databaseAtRelease(dir: string, tag: string, fill: (db: BetterSqlite3.Database) => void): string {
  const folder = join(dir, `migrations-${tag}`);
  mkdirSync(join(folder, 'meta'), { recursive: true });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as Journal;
  const last = journal.entries.findIndex((e) => e.tag === tag);
  if (last === -1) throw new Error(`no migration ${tag}`);
  const entries = journal.entries.slice(0, last + 1);
  for (const entry of entries) cpSync(join(MIGRATIONS, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`));
  writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }));
  const path = join(dir, `at-${tag}.db`);
  const sqlite = new BetterSqlite3(path);
  migrate(drizzle(sqlite), { migrationsFolder: folder });
  fill(sqlite);
  sqlite.close();
  return path;
}
