import { chmodSync, existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** A backup refused or failed, in words for the operator (the file, and what to do). */
export class BackupError extends Error {}

export interface BackupResult {
  events: number;
  sources: number;
  bytes: number;
}

/** better-sqlite3 copies this many pages per step at most: all of them in one step. */
const ALL_PAGES = 0x7fffffff;

/**
 * An online, consistent copy of the SQLite database at `databasePath`, through SQLite's backup
 * API, while Dispatch keeps running. Copying the file itself is not a backup: in WAL mode the
 * recent commits live in `dispatch.db-wal`, and a copy of the main file alone may open with no
 * tables at all. The copy is made in one step (one read transaction: a writer in WAL mode is not
 * blocked by it, and a step interrupted by another connection's write would start over), checked,
 * made a single self-contained file (rollback journal), and only then given its name: a failed
 * backup never leaves a file that looks like one.
 */
export async function backupSqlite(databasePath: string, destination: string): Promise<BackupResult> {
  if (!existsSync(databasePath))
    throw new BackupError(`DATABASE_PATH ${databasePath} does not exist: there is nothing to back up (is it the path Dispatch runs with?)`);
  if (existsSync(destination)) throw new BackupError(`${destination} already exists: name a new file (a backup never overwrites one)`);
  if (!statSync(dirname(destination), { throwIfNoEntry: false })?.isDirectory())
    throw new BackupError(`the folder ${dirname(destination)} does not exist: make it first, or name a file in an existing folder`);
  const partial = `${destination}.partial-${process.pid}`;
  const source = new BetterSqlite3(databasePath, { fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    // Made empty and for its owner only before SQLite writes into it (SQLite would make it 0644, and
    // its journal files alike): a backup killed midway leaves no copy other users can read.
    writeFileSync(partial, '', { mode: 0o600, flag: 'wx' });
    await source.backup(partial, { progress: () => ALL_PAGES });
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    source.close();
  }
  try {
    const result = checkCopy(partial);
    // Event payloads can carry personal data: the copy is for its owner only, as the key file is (whatever a umask did).
    chmodSync(partial, 0o600);
    renameSync(partial, destination);
    return result;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/** The copy opens, passes SQLite's check, and is one file; what it holds, for the operator to see. */
function checkCopy(path: string): BackupResult {
  const copy = new BetterSqlite3(path, { fileMustExist: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copy failed SQLite's check (${String(check)}): nothing was kept; try again`);
    copy.pragma('journal_mode = DELETE');
    const count = (table: string) => (copy.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    return { events: count('events'), sources: count('sources'), bytes: statSync(path).size };
  } finally {
    copy.close();
  }
}
