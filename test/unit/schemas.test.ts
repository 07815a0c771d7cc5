import { getTableConfig as pgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTable } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import * as pg from '../../src/db/schema-pg.js';
import * as sqlite from '../../src/db/schema.js';

/**
 * The program reads rows through the SQLite schema whatever the dialect, so the Postgres schema must
 * have the same tables, columns, nullability, defaults, keys and indexes (types differ by dialect).
 */
type Config = ReturnType<typeof sqliteTable> | ReturnType<typeof pgTable>;

function shape(config: Config) {
  return {
    name: config.name,
    columns: config.columns
      .map((c) => ({ name: c.name, notNull: c.notNull, primary: c.primary, hasDefault: c.hasDefault, unique: c.isUnique }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    indexes: config.indexes
      .map((i) => ({
        name: i.config.name ?? '',
        unique: Boolean(i.config.unique),
        columns: i.config.columns.map((c) => ('name' in c ? c.name : '?')),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    foreignKeys: config.foreignKeys
      .map((fk) => {
        const ref = fk.reference();
        return { columns: ref.columns.map((c) => c.name), to: ref.foreignColumns.map((c) => c.name), onDelete: fk.onDelete };
      })
      .sort((a, b) => a.columns.join().localeCompare(b.columns.join())),
    uniqueConstraints: config.uniqueConstraints.map((u) => u.columns.map((c) => c.name)),
  };
}

const tables = (module: Record<string, unknown>) =>
  Object.keys(module).filter((k) => typeof module[k] === 'object' && module[k] !== null && 'getSQL' in (module[k] as object));

describe('the SQLite and Postgres schemas', () => {
  it('declare the same tables', () => {
    expect(tables(pg).sort()).toEqual(tables(sqlite).sort());
    expect(tables(sqlite).length).toBeGreaterThanOrEqual(8);
  });

  for (const name of tables(sqlite)) {
    it(`${name}: same columns, nullability, defaults, keys and indexes`, () => {
      const lite = shape(sqliteTable((sqlite as unknown as Record<string, Parameters<typeof sqliteTable>[0]>)[name]!));
      const post = shape(pgTable((pg as unknown as Record<string, Parameters<typeof pgTable>[0]>)[name]!));
      expect(post).toEqual(lite);
      expect(lite.columns.length).toBeGreaterThan(1);
    });
  }
});
