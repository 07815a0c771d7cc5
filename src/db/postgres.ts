import { fileURLToPath } from 'node:url';
import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Database, Row } from './database.js';

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations/postgres', import.meta.url));
const dialect = new PgDialect();
/** The advisory lock replicas take in turn to migrate, so several starting at once do it once. */
const MIGRATION_LOCK = 0x44_49_53_50; // "DISP"

/** bigint (int8) and numeric as numbers: they hold milliseconds and counts, far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  /** Connections in the pool: the webhook route, the worker and commands share them. */
  max?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Connection and idle errors are reported here: a Postgres restart must not crash the process. */
  onError?: (error: Error) => void;
}

/** Connects, and brings the schema up to date (one replica at a time). */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 8,
    // An unreachable Postgres fails a request within seconds instead of holding it until the OS
    // gives up on the connection (minutes); keepAlive notices a dead peer on an open connection.
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    types,
    application_name: options.applicationName ?? 'dispatch',
  });
  const onError = options.onError ?? (() => {});
  pool.on('error', onError);
  try {
    const client = await pool.connect();
    const stopWatching = watchCheckedOut(client, onError);
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      client.release(stopWatching());
    }
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresDatabase(pool, url, onError);
}

/**
 * A client taken out of the pool has lost the pool's own 'error' listener until it is given back:
 * a connection cut meanwhile (a failover, a reset, Postgres restarted) would be an unhandled
 * 'error' event, which ends the process. Its queries fail with the error anyway; the event only
 * needs a listener, and the client must then not go back to the pool: stopping the watch returns
 * the error, if any, for `release`.
 */
function watchCheckedOut(client: pg.PoolClient, onError: (error: Error) => void): () => Error | undefined {
  let lost: Error | undefined;
  const listener = (error: Error) => {
    lost ??= error;
    onError(error);
  };
  client.on('error', listener);
  return () => {
    client.removeListener('error', listener);
    return lost;
  };
}

const bindable = (value: unknown): unknown => (value === undefined ? null : value);

type Queryable = Pick<pg.PoolClient, 'query'>;

async function query(on: Queryable, sqlQuery: SQL): Promise<pg.QueryResult> {
  const { sql: text, params } = dialect.sqlToQuery(sqlQuery);
  return on.query(text, params.map(bindable));
}

/** A transaction's handle: every statement on its one connection; a nested transaction is a savepoint. */
function insideTransaction(client: pg.PoolClient): Database {
  let depth = 0;
  const handle: Database = {
    dialect: 'postgres',
    all: async (q) => (await query(client, q)).rows as never,
    get: async (q) => (await query(client, q)).rows[0] as never,
    run: async (q) => (await query(client, q)).rowCount ?? 0,
    async transaction(work) {
      const name = `sp${++depth}`;
      try {
        await client.query(`SAVEPOINT ${name}`);
        try {
          const result = await work(handle);
          await client.query(`RELEASE ${name}`);
          return result;
        } catch (error) {
          await client.query(`ROLLBACK TO ${name}`);
          await client.query(`RELEASE ${name}`);
          throw error;
        }
      } finally {
        depth -= 1;
      }
    },
    isUsable: async () => true,
    close: async () => {},
  };
  return handle;
}

/**
 * The Database seam on a Postgres pool. Unlike SQLite's single connection, transactions run side
 * by side on their own connections; Postgres's locks keep them apart.
 */
export class PostgresDatabase implements Database {
  readonly dialect = 'postgres' as const;

  constructor(
    private readonly pool: pg.Pool,
    /** Where it connects: the coordination connection (src/replicas) opens its own to the same database. */
    readonly url: string,
    private readonly onError: (error: Error) => void,
  ) {}

  async all<T = Row>(q: SQL): Promise<T[]> {
    return (await query(this.pool, q)).rows as T[];
  }

  async get<T = Row>(q: SQL): Promise<T | undefined> {
    return (await query(this.pool, q)).rows[0] as T | undefined;
  }

  async run(q: SQL): Promise<number> {
    return (await query(this.pool, q)).rowCount ?? 0;
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const stopWatching = watchCheckedOut(client, this.onError);
    let broken = false;
    try {
      await client.query('BEGIN');
      try {
        const result = await work(insideTransaction(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw error;
      }
    } finally {
      // A connection that was lost, or whose rollback failed, is not given back to the pool.
      const lost = stopWatching();
      client.release(lost ?? broken);
    }
  }

  async isUsable(): Promise<boolean> {
    try {
      return (await this.pool.query('select 1 as ok')).rows.length === 1;
    } catch {
      return false;
    }
  }

  private closing: Promise<void> | undefined;

  /** Ends the pool once; closing again (a shutdown after a failure closed it) is harmless. */
  close(): Promise<void> {
    return (this.closing ??= this.pool.end());
  }
}
