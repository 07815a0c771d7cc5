import { getTableColumns, type SQL, type Table } from 'drizzle-orm';

export type Row = Record<string, unknown>;

/**
 * What the repositories run their SQL on. Queries are Drizzle `sql` templates written in the SQL
 * that SQLite and Postgres share, so each repository is written once; this interface is the one
 * seam between them and a dialect. Every call is async because Postgres is.
 */
export interface Database {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Row>(query: SQL): Promise<T[]>;
  get<T = Row>(query: SQL): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves with how many rows it changed. */
  run(query: SQL): Promise<number>;
  /**
   * Runs `work` in one transaction: all of it commits, or none of it. Inside, use `tx` only:
   * the outer handle waits until the transaction is over.
   */
  transaction<T>(work: (tx: Database) => Promise<T>): Promise<T>;
  /** True while the database answers a trivial query. */
  isUsable(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A raw row (snake_case columns; SQLite's 0/1 for booleans) as the table's TypeScript shape, by
 * the column list of its Drizzle schema: one mapping for every table and both dialects.
 */
export function fromRow<T extends Table>(table: T, row: Row): T['$inferSelect'] {
  const out: Row = {};
  for (const [key, name, boolean] of columnsOf(table)) {
    const value = row[name];
    out[key] = value === null || value === undefined ? null : boolean ? Boolean(value) : value;
  }
  return out as T['$inferSelect'];
}

/** Each table's columns as `[key, column name, is boolean]`, listed once: rows are read by the thousand (a flood summary's batch). */
const COLUMNS = new WeakMap<Table, [string, string, boolean][]>();
function columnsOf(table: Table): [string, string, boolean][] {
  let columns = COLUMNS.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table)).map(([key, column]) => [key, column.name, column.dataType === 'boolean']);
    COLUMNS.set(table, columns);
  }
  return columns;
}

/** A unique index refused the row: SQLite's and Postgres's words for it. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** A foreign key refused the row: the row it points to is gone (a source deleted meanwhile). */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

/** Node's words for a connection that could not be made or was lost. */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The database did not answer, as opposed to refusing what was asked: the connection could not be
 * made or was lost (Postgres restarting, a failover, the network), Postgres is shutting down or
 * not taking connections, or the pool gave up waiting. What is asked may succeed later, as is.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  if (error instanceof DatabaseUnreachable) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (CONNECTION_ERRNOS.has(code)) return true;
    // SQLSTATE class 08: connection exception; 57P01–57P03: shutting down, crashed, starting up; 53300: too many connections.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|not queryable|not currently accepting connections|Query read timeout/i.test(
      message,
    )
  );
}

/** Raised when the database has not answered within the time the caller could give it. */
export class DatabaseUnreachable extends Error {}
