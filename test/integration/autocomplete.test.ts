import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { createRoute, searchRouteNames } from '../../src/db/routes.js';
import { createSource, searchSourceNames } from '../../src/db/sources.js';
import { asChannelId, asGuildId, type SourceId } from '../../src/ids.js';
import { NAME_CANDIDATES } from '../../src/natural-order.js';
import { openTestDatabase, tempDir } from '../support/harness.js';

/**
 * Autocomplete answers every keystroke, on the loop that also takes webhooks: it reads a bounded
 * number of names (never every name of a large server, never an event), and still shows them as
 * people count (pad-1, pad-2, pad-10).
 */
const MANY = NAME_CANDIDATES + 50;
const guildId = asGuildId('1300000000000000001');
const dir = tempDir();
let db: Database;
let sourceId: SourceId;

/** The database with the number of rows each read returns counted. */
function counting(inner: Database): { db: Database; rowsRead: number[] } {
  const rowsRead: number[] = [];
  return {
    db: { ...inner, all: async (query) => inner.all(query).then((rows) => (rowsRead.push(rows.length), rows)) } as Database,
    rowsRead,
  };
}

beforeAll(async () => {
  db = await openTestDatabase(join(dir.path, 'autocomplete.db'), {});
  // More names than are read, and pad-1 stored last: what is shown does not follow the order of storage.
  const names = ['pad-10', 'pad-2', ...Array.from({ length: MANY }, (_, i) => `many-${i}`), 'pad-1'];
  for (const [i, name] of names.entries()) {
    const { source } = await createSource(
      db,
      {
        guildId,
        channelId: asChannelId(String(1300000000000100000n + BigInt(i))),
        layout: 'feed',
        name,
        signingSecret: null,
        createdBy: '1',
      },
      Date.now(),
    );
    if (name === 'pad-1') sourceId = source.id;
  }
  for (const [i, name] of names.entries()) {
    const channelId = asChannelId(String(1300000000000200000n + BigInt(i)));
    await createRoute(
      db,
      { sourceId, name, channelId, layout: 'feed', filter: '{}', pingRoleId: null, pingLevel: 'error', createdBy: '1' },
      Date.now(),
    );
  }
});
afterAll(async () => {
  await db?.close();
  dir.remove();
});

describe.each([
  ['sources', (d: Database, typed: string) => searchSourceNames(d, guildId, typed)],
  ['routes', (d: Database, typed: string) => searchRouteNames(d, sourceId, typed)],
] as const)('autocomplete of %s names', (_, search) => {
  it(`reads at most ${NAME_CANDIDATES} names of ${MANY + 3}, and shows Discord's 25`, async () => {
    const { db: measured, rowsRead } = counting(db);
    const shown = await search(measured, '');
    expect(shown).toHaveLength(25);
    expect(rowsRead).toHaveLength(1);
    expect(rowsRead[0]).toBeLessThanOrEqual(NAME_CANDIDATES);
    const typed = await search(measured, 'many-1');
    expect(typed.length).toBeGreaterThan(0);
    expect(typed.every((name) => name.startsWith('many-1'))).toBe(true);
    expect(rowsRead.every((n) => n <= NAME_CANDIDATES)).toBe(true);
  });

  it('keeps natural order: pad-1, pad-2, pad-10', async () => {
    const shown = await search(db, 'pad');
    expect(shown).toEqual(['pad-1', 'pad-2', 'pad-10']);
  });
});
