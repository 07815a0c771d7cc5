import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterEach, expect, inject, it } from 'vitest';
import { openPostgres } from '../../src/db/postgres.js';
import { dueHeads } from '../../src/db/queue.js';
import type { Database } from '../../src/db/database.js';
import { freshDatabase } from '../support/postgres.js';
import { TEST_DIALECT, tempDir } from '../support/harness.js';

/**
 * A Postgres database made by the previous release (migrations up to 0004_quiet_hours, drizzle's
 * own bookkeeping included), upgraded by opening it: 0005_delivery_state turns a delivery whose send
 * had begun into `sending`, a disabled source's `paused` into `pending` (the queue skips it), and
 * quiet hours' `held` into `quiet`. SQLite's upgrades are test/integration/upgrade.test.ts.
 */
const MIGRATIONS = fileURLToPath(new URL('../../migrations/postgres', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it.skipIf(TEST_DIALECT === 'sqlite')(
  "0004_quiet_hours → now on Postgres: 'pending' being sent becomes sending, 'paused' pending, 'held' quiet",
  async () => {
    const url = await freshDatabase(inject('postgresUrl'));
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
    const entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === '0004_quiet_hours') + 1);
    mkdirSync(join(dir.path, 'meta'), { recursive: true });
    for (const e of entries) cpSync(join(MIGRATIONS, `${e.tag}.sql`), join(dir.path, `${e.tag}.sql`));
    writeFileSync(join(dir.path, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await migrate(drizzle({ client }), { migrationsFolder: dir.path });
    await client.query(`insert into sources (id, guild_id, name, slug, created_by, created_at, updated_at, enabled)
    values (5, 'g', 'live', 'LIVELIVELIVELIVELIVELIVELIVELIV0', '1', 1, 1, true), (6, 'g', 'off', 'OFFOFFOFFOFFOFFOFFOFFOFFOFFOFF00', '1', 1, 1, false)`);
    await client.query(`insert into routes (id, source_id, name, channel_id, filter, layout, created_by, created_at, updated_at)
    values (9, 5, 'main', 'a', '{}', 'feed', '1', 1, 1), (10, 6, 'main', 'b', '{}', 'feed', '1', 1, 1), (11, 5, 'night', 'b', '{}', 'feed', '1', 1, 1)`);
    for (const seq of [1, 2, 3])
      await client.query(
        `insert into events (seq, id, source_id, event_type, body_hash, body, received_at) values ($1, $2, $3, 'issue.created', $4, '{}', $5)`,
        [seq, `e${seq}`, seq === 2 ? 6 : 5, `h${seq}`, Date.now()],
      );
    await client.query(`insert into deliveries (event_seq, route_id, channel_id, status, batch_id, sending, next_attempt_at) values
    (1, 9, 'a', 'pending', 'begun-nonce', true, 0), (2, 10, 'b', 'paused', null, false, 0), (3, 11, 'b', 'held', null, false, 0)`);
    await client.end();

    const db: Database = await openPostgres(url);
    cleanups.push(() => db.close());
    expect(await db.all(sql`select event_seq, status, batch_id from deliveries order by event_seq`)).toEqual([
      { event_seq: 1, status: 'sending', batch_id: 'begun-nonce' },
      { event_seq: 2, status: 'pending', batch_id: null },
      { event_seq: 3, status: 'quiet', batch_id: null },
    ]);
    // The batch being sent is what the worker takes up first; the disabled source's is skipped.
    expect((await dueHeads(db)).map((h) => [h.status, h.channelId])).toEqual([['sending', 'a']]);
  },
);
