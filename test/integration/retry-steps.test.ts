import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { retrySource, wakeRetries } from '../../src/db/deliveries.js';
import { STEP_ROWS } from '../../src/db/delivery-state/common.js';
import type { Database } from '../../src/db/database.js';
import { asSourceId } from '../../src/ids.js';
import { openTestDatabase, preparedDatabase } from '../support/harness.js';
import { seedMany } from '../support/seed-many.js';

/**
 * `source retry` and the wake after an outage walk the waiting deliveries a window of STEP_ROWS at a
 * time, in order. They looked for the rows not yet due instead, so each step read past every row
 * made due before it: 604,800 waiting took 99 s to answer (issue 33's backlog reproduction).
 */
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function waiting(count: number): Promise<{ db: Database; sourceId: ReturnType<typeof asSourceId> }> {
  const prepared = await preparedDatabase({ secret: null });
  const db = await openTestDatabase(prepared.path, prepared.env());
  cleanup = async () => {
    await db.close();
    await prepared.cleanup();
  };
  const { source } = prepared;
  await seedMany(db, { sourceId: source.id, routeId: source.route.id, channelId: source.channelId, count, status: 'pending' });
  return { db, sourceId: asSourceId(source.id) };
}

const notDue = async (db: Database, now: number) =>
  Number((await db.get<{ n: number }>(sql`select count(*) as n from deliveries where status = 'pending' and next_attempt_at > ${now}`))!.n);

describe('making waiting deliveries due, a window at a time', () => {
  it('source retry makes every waiting delivery due, however many windows they take', async () => {
    const count = STEP_ROWS * 4 + 7;
    const { db, sourceId } = await waiting(count);
    const now = Date.now();
    expect(await notDue(db, now)).toBe(count);
    expect(await retrySource(db, sourceId, now)).toMatchObject({ waiting: count });
    expect(await notDue(db, now)).toBe(0);
  });

  it('the wake after an outage makes due only the deliveries that failed before, past windows of others', async () => {
    const count = STEP_ROWS * 3;
    const { db } = await waiting(count);
    // Every third waits out a retry; the rest wait their turn.
    await db.run(sql`update deliveries set attempts = 1 where seq % 3 = 0`);
    const now = Date.now();
    expect(await wakeRetries(db, now)).toBe(count / 3);
    expect(await notDue(db, now)).toBe(count - count / 3);
  });
});
