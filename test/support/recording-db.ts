import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { Database } from '../../src/db/database.js';

export interface Statement {
  text: string;
  params: unknown[];
}

/**
 * The Database seam with every statement recorded (its SQL text and parameters) before it runs,
 * transactions and savepoints included: to count what a piece of work costs in statements, or see
 * in which order it touches rows.
 */
export function recordingDatabase(db: Database): { db: Database; statements: Statement[] } {
  const statements: Statement[] = [];
  const dialect = db.dialect === 'sqlite' ? new SQLiteSyncDialect() : new PgDialect();
  const record = (query: SQL) => {
    const { sql: text, params } = dialect.sqlToQuery(query);
    statements.push({ text: text.replace(/\s+/g, ' ').trim(), params });
  };
  const wrap = (inner: Database): Database => ({
    dialect: inner.dialect,
    all: (query) => (record(query), inner.all(query)),
    get: (query) => (record(query), inner.get(query)),
    run: (query) => (record(query), inner.run(query)),
    transaction: (work) => inner.transaction((tx) => work(wrap(tx))),
    isUsable: () => inner.isUsable(),
    close: () => inner.close(),
  });
  return { db: wrap(db), statements };
}
