import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { Database, Row } from './database.js';

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations/sqlite', import.meta.url));
const dialect = new SQLiteSyncDialect();
/** Distinct statements the program runs are few; the bound only guards against a leak. */
const MAX_CACHED_STATEMENTS = 500;

export interface SqliteOptions {
  /**
   * FULL syncs the write-ahead log at every commit, so an acknowledged event survives an OS crash
   * or power loss; NORMAL syncs at checkpoints, so it survives a process crash (kill -9) only.
   */
  synchronous: 'FULL' | 'NORMAL';
}

/** Opens (creating if needed) the SQLite file and brings its schema up to date. */
export function openSqlite(path: string, options: SqliteOptions = { synchronous: 'FULL' }): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new BetterSqlite3(path);
  try {
    // WAL lets the webhook route write while the worker reads.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.synchronous}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // 4 MB of page cache (better-sqlite3 builds SQLite with 16 MB): it is resident memory, and
    // npm start's process is meant to stay within 150 MB over a backlog of any size (8 MB left
    // 3-5 MB of that margin in the memory tests; the file's pages stay in the OS's cache anyway).
    sqlite.pragma('cache_size = -4000');
    migrate(drizzle(sqlite), { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return new SqliteDatabase(sqlite);
}

/** better-sqlite3 binds numbers, strings, bigints, buffers and null; booleans are stored as 0/1. */
function bindable(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value === undefined ? null : value;
}

class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Settles when the open transaction ends. SQLite has one connection here, so everyone else waits for it. */
  private openTransaction: Promise<void> | undefined;
  /** How deep the open savepoints go: a savepoint is named by its depth, so its statements are prepared once. */
  private depth = 0;
  /** The handle given to a transaction's work: it runs at once, inside the transaction. */
  private readonly inside: Database;

  constructor(private readonly sqlite: BetterSqlite3.Database) {
    this.inside = {
      dialect: 'sqlite',
      all: async (query) => this.prepare(query, (s, p) => s.all(...p)) as never,
      get: async (query) => this.prepare(query, (s, p) => s.get(...p)) as never,
      run: async (query) => this.prepare(query, (s, p) => s.run(...p).changes),
      transaction: (work) => this.savepoint(work),
      isUsable: () => this.isUsable(),
      close: () => this.close(),
    };
  }

  all<T = Row>(query: SQL): Promise<T[]> {
    return this.whenNoTransaction(() => this.prepare(query, (s, p) => s.all(...p)) as T[]);
  }

  get<T = Row>(query: SQL): Promise<T | undefined> {
    return this.whenNoTransaction(() => this.prepare(query, (s, p) => s.get(...p)) as T | undefined);
  }

  run(query: SQL): Promise<number> {
    return this.whenNoTransaction(() => this.prepare(query, (s, p) => s.run(...p).changes));
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    // Checked and taken in the same microtask, so two transactions never both begin.
    while (this.openTransaction) await this.openTransaction;
    let end!: () => void;
    this.openTransaction = new Promise((resolve) => (end = resolve));
    try {
      // IMMEDIATE takes the write lock now, so a second process cannot make the commit fail later.
      this.control('BEGIN IMMEDIATE');
      try {
        const result = await work(this.inside);
        this.control('COMMIT');
        return result;
      } catch (error) {
        if (this.sqlite.inTransaction) this.control('ROLLBACK');
        throw error;
      }
    } finally {
      this.openTransaction = undefined;
      end();
    }
  }

  async isUsable(): Promise<boolean> {
    try {
      return this.sqlite.prepare('select 1 as ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.sqlite.open) this.sqlite.close();
  }

  /**
   * Runs a statement outside any transaction. The check and the statement happen in the same
   * microtask: no transaction can begin in between and swallow the statement.
   */
  private async whenNoTransaction<R>(execute: () => R): Promise<R> {
    while (this.openTransaction) await this.openTransaction;
    return execute();
  }

  /** A transaction inside a transaction: a savepoint, so its failure undoes only its own work. */
  private async savepoint<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    const name = `sp${++this.depth}`;
    try {
      this.control(`SAVEPOINT ${name}`);
      try {
        const result = await work(this.inside);
        this.control(`RELEASE ${name}`);
        return result;
      } catch (error) {
        this.control(`ROLLBACK TO ${name}`);
        this.control(`RELEASE ${name}`);
        throw error;
      }
    } finally {
      this.depth -= 1;
    }
  }

  /** Transaction control, prepared once per text (exec would parse it every time: 8 % of the CPU under load). */
  private control(text: string): void {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.sqlite.prepare(text);
      this.statements.set(text, statement);
    }
    statement.run();
  }

  private prepare<R>(query: SQL, execute: (statement: BetterSqlite3.Statement, params: unknown[]) => R): R {
    const { sql: text, params } = dialect.sqlToQuery(query);
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.sqlite.prepare(text);
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(text, statement);
    }
    return execute(statement, params.map(bindable));
  }
}

/**
 * Runs `work` (writes that replace secrets) with `secure_delete` on, so SQLite zeroes the bytes the
 * old values held (in their pages and in any page it frees), then copies the write-ahead log into
 * the file and truncates the log: the old text is left in neither, and nothing of the file is
 * rewritten but the pages written (a VACUUM of a 1.2 GB file held the one connection, and every
 * webhook with it, for 31 s). https://sqlite.org/pragma.html#pragma_secure_delete
 */
export async function overwritingOldValues<T>(db: Database, work: () => Promise<T>): Promise<T> {
  await db.all(sql`pragma secure_delete = on`);
  try {
    const result = await work();
    await db.all(sql`pragma wal_checkpoint(truncate)`);
    return result;
  } finally {
    await db.all(sql`pragma secure_delete = off`);
  }
}

/**
 * Whether another connection has the file open (a running Dispatch, a backup): each connection to a
 * WAL database holds a shared lock on it for as long as it is open, so an exclusive lock, asked for
 * without waiting, is refused. https://sqlite.org/wal.html#concurrency
 */
export function openElsewhere(path: string): boolean {
  const probe = new BetterSqlite3(path, { fileMustExist: true, timeout: 0 });
  try {
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('begin exclusive');
    probe.exec('commit');
    return false;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return true;
    throw error;
  } finally {
    probe.close();
  }
}

/**
 * Rewrites the file without its free pages and empties the write-ahead log (`npm run compact`,
 * with Dispatch stopped): what it deleted, and the space of what it pruned, leave the file.
 */
export async function compactSqlite(db: Database): Promise<void> {
  await db.run(sql`vacuum`);
  await db.all(sql`pragma wal_checkpoint(truncate)`);
}
