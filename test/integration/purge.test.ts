import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { inSteps } from '../../src/db/deliveries.js';
import { STEP_ROWS } from '../../src/db/delivery-state/index.js';
import { acceptEvents } from '../../src/db/events.js';
import { openPostgres } from '../../src/db/postgres.js';
import { purgeRouteStep, purgeSourceStep, routesToPurge, sourcesToPurge } from '../../src/db/purge.js';
import { createRoute, deleteRoute } from '../../src/db/routes.js';
import { createSource, deleteSource, setSourceEnabled } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { asChannelId, asGuildId, type RouteId } from '../../src/ids.js';
import { sourceRow } from '../support/db.js';
import { TEST_DIALECT, tempDir } from '../support/harness.js';
import { migratedDatabase } from '../support/postgres.js';

/**
 * What a removed route or a deleted source leaves is purged in bounded steps by every replica's
 * housekeeping (src/db/purge.ts). Found in review: a route's cards went in one statement with the
 * route row (tens of thousands for a card route), and two replicas purging one route at once on
 * Postgres counted a quarter of its waiting deliveries as dropped (the second took "none deleted
 * this step" for "none left" and let the route row's cascade take the rest), now and then
 * deadlocking as well.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Two connections to one database, as two replicas have (on SQLite, the first only is used). */
async function twoReplicas(): Promise<[Database, Database]> {
  if (TEST_DIALECT === 'postgres') {
    const url = await migratedDatabase();
    const [a, b] = [await openPostgres(url), await openPostgres(url)];
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    return [a, b];
  }
  const dir = tempDir();
  const [a, b] = [openSqlite(join(dir.path, 'd.db')), openSqlite(join(dir.path, 'd.db'))];
  cleanups.push(
    () => dir.remove(),
    () => a.close(),
    () => b.close(),
  );
  return [a, b];
}

async function sourceWithRoute(db: Database, layout: 'card' | 'feed') {
  const { source } = await createSource(
    db,
    {
      guildId: asGuildId('100000000000000001'),
      channelId: asChannelId('200000000000000001'),
      layout,
      name: 'web',
      signingSecret: null,
      createdBy: '1',
    },
    Date.now(),
  );
  const route = await createRoute(
    db,
    {
      sourceId: source.id,
      name: 'ops',
      channelId: asChannelId('200000000000000002'),
      layout,
      filter: '{}',
      pingRoleId: null,
      pingLevel: 'error',
      createdBy: '1',
    },
    Date.now(),
  );
  return { source, route };
}

/** `count` cards on the route, as a card route keeps one per issue it has shown. */
async function cardsOn(db: Database, routeId: RouteId, count: number): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    const rows = Array.from(
      { length: Math.min(500, count - i) },
      (_, k) => sql`(${routeId}, ${`issue:${i + k}`}, '200000000000000002', ${`m${i + k}`}, 0, ${false}, '{}', 1, 1, 1)`,
    );
    await db.run(sql`insert into cards (route_id, card_key, channel_id, message_id, position, shared, state, posted_at, last_edit_at, updated_at)
      values ${sql.join(rows, sql`, `)}`);
  }
}

const countOf = async (db: Database, table: 'cards' | 'routes', routeId: RouteId) =>
  Number(
    (await db.get<{ n: number }>(
      sql`select count(*) as n from ${sql.raw(table)} where ${sql.raw(table === 'cards' ? 'route_id' : 'id')} = ${routeId}`,
    ))!.n,
  );

describe('purging what a delete left', () => {
  it("a removed card route's cards go a bounded step at a time, and the route last", async () => {
    const [db] = await twoReplicas();
    const { route } = await sourceWithRoute(db, 'card');
    await cardsOn(db, route.id, 3 * STEP_ROWS + 10);
    await deleteRoute(db, route, Date.now());
    const [toPurge] = await routesToPurge(db);
    expect(await purgeRouteStep(db, toPurge!)).toBe(STEP_ROWS);
    expect(await countOf(db, 'cards', route.id)).toBe(2 * STEP_ROWS + 10);
    expect(await countOf(db, 'routes', route.id)).toBe(1);
    await inSteps(() => purgeRouteStep(db, toPurge!));
    expect([await countOf(db, 'cards', route.id), await countOf(db, 'routes', route.id)]).toEqual([0, 0]);
  });

  it("a deleted source's card routes are emptied the same way before the source goes", async () => {
    const [db] = await twoReplicas();
    const { source, route } = await sourceWithRoute(db, 'card');
    await cardsOn(db, route.id, STEP_ROWS + 10);
    await deleteSource(db, source, Date.now());
    const [sourceId] = await sourcesToPurge(db);
    // Before its routes are purged, the source stays (its routes' cards would go with it in one statement).
    expect(await purgeSourceStep(db, sourceId!)).toBe(0);
    expect(await sourcesToPurge(db)).toEqual([source.id]);
    let purged = 0;
    for (const toPurge of await routesToPurge(db)) purged += await inSteps(() => purgeRouteStep(db, toPurge));
    expect(purged).toBe(STEP_ROWS + 10);
    await inSteps(() => purgeSourceStep(db, sourceId!));
    expect([await sourcesToPurge(db), await countOf(db, 'cards', route.id)]).toEqual([[], 0]);
  });

  // SQLite has one process per file: two connections of one process would only wait on each other's locks.
  it.skipIf(TEST_DIALECT === 'sqlite')(
    'two replicas purging one removed route count each of its waiting deliveries as dropped, once',
    async () => {
      const [a, b] = await twoReplicas();
      const { source, route } = await sourceWithRoute(a, 'feed');
      await setSourceEnabled(a, source, false, Date.now()); // nothing is sent meanwhile
      const WAITING = 12 * STEP_ROWS;
      for (let i = 0; i < WAITING; i += 500) {
        const inputs = Array.from({ length: Math.min(500, WAITING - i) }, (_, k) => {
          const text = JSON.stringify({ action: 'created', data: { n: i + k } });
          return {
            sourceId: source.id,
            eventType: 'issue.created',
            body: Buffer.from(text),
            text,
            routes: [{ id: route.id }],
            filteredBy: [],
          };
        });
        await acceptEvents(a, inputs, Date.now(), 0);
      }
      expect(await deleteRoute(a, route, Date.now())).toBe(WAITING);
      // Each replica's housekeeping as Housekeeper.tidyOnce runs it, again at its next look when a run fails.
      const failures: unknown[] = [];
      const housekeeping = async (db: Database) => {
        for (let looks = 0; looks < 20 && (await routesToPurge(db)).length > 0; looks++) {
          try {
            for (const toPurge of await routesToPurge(db)) await inSteps(() => purgeRouteStep(db, toPurge));
          } catch (error) {
            failures.push(error);
          }
        }
      };
      await Promise.all([housekeeping(a), housekeeping(b)]);
      expect({ failures, route: await countOf(a, 'routes', route.id), dropped: (await sourceRow(a, source.id)).eventsDropped }).toEqual({
        failures: [],
        route: 0,
        dropped: WAITING,
      });
    },
  );
});
