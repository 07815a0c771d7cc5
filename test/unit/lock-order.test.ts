import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { markDelivered } from '../../src/db/deliveries.js';
import { acceptEvents } from '../../src/db/events.js';
import { jobsInBatch } from '../../src/db/queue.js';
import { claim } from '../../src/db/delivery-state/index.js';
import { createSource } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { asBatchId, asChannelId, asGuildId, asMessageId, type DeliverySeq } from '../../src/ids.js';
import { tempDir } from '../support/harness.js';
import { recordingDatabase } from '../support/recording-db.js';

/**
 * Postgres: two group commits in flight that update the same sources' (or routes') counters in
 * opposite orders can deadlock (one waits for the other's row lock, which waits for its own), and
 * Postgres breaks the tie by failing one after a second. Every counter update goes in id order.
 */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoSources() {
  const dir = tempDir();
  const db: Database = openSqlite(join(dir.path, 'd.db'));
  cleanups.push(
    () => dir.remove(),
    () => db.close(),
  );
  const make = (name: string, channel: string) =>
    createSource(
      db,
      { guildId: asGuildId('10'), channelId: asChannelId(channel), layout: 'feed', name, signingSecret: null, createdBy: '1' },
      Date.now(),
    );
  return { db, first: await make('first', '201'), second: await make('second', '202') };
}

/** The ids of the rows `update <table> set <column> …` statements touched, in order. */
const touched = (statements: { text: string; params: unknown[] }[], table: string, column: string) =>
  statements.filter((s) => s.text.startsWith(`update ${table} set ${column}`)).map((s) => Number(s.params[s.params.length - 1]));

describe('counter updates lock rows in id order', () => {
  it('a group commit updates its sources in id order, whatever order its webhooks came in', async () => {
    const { db, first, second } = await twoSources();
    const recording = recordingDatabase(db);
    const event = (source: typeof first, text: string) => ({
      sourceId: source.source.id,
      eventType: 'issue.created',
      text,
      body: Buffer.from(text),
      routes: [{ id: source.route.id }],
      filteredBy: [],
    });
    await acceptEvents(recording.db, [event(second, '{"a":1}'), event(first, '{"a":2}')], Date.now(), 3_600_000);
    expect(touched(recording.statements, 'sources', 'events_received')).toEqual([first.source.id, second.source.id]);
  });

  it('recording a delivered batch updates its sources in id order', async () => {
    const { db, first, second } = await twoSources();
    const event = (source: typeof first, text: string) => ({
      sourceId: source.source.id,
      eventType: 'issue.created',
      text,
      body: Buffer.from(text),
      routes: [{ id: source.route.id }],
      filteredBy: [],
    });
    await acceptEvents(db, [event(second, '{"b":1}'), event(first, '{"b":2}')], Date.now(), 3_600_000);
    const seqs = (await db.all<{ seq: DeliverySeq }>(sql`select seq from deliveries order by seq`)).map((r) => r.seq);
    // Two routes, two channels: each delivery is claimed for its own route's channel, in one batch.
    await claim(db, [seqs[0]!], { batchId: asBatchId('b1'), channelId: second.route.channelId });
    await claim(db, [seqs[1]!], { batchId: asBatchId('b1'), channelId: first.route.channelId });
    const batch = await jobsInBatch(db, asBatchId('b1'));
    expect(batch.map((j) => j.sourceId)).toEqual([second.source.id, first.source.id]);
    const recording = recordingDatabase(db);
    await markDelivered(recording.db, batch, asMessageId('1'), Date.now());
    expect(touched(recording.statements, 'sources', 'events_delivered')).toEqual([first.source.id, second.source.id]);
  });
});
