import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/database.js';
import { loadFixture } from './sentry.js';

/**
 * Bulk-seeds Dispatch's own database for the large-database tests: stored events of one source,
 * each with one delivery on one route, as the webhook route would have stored them, only faster
 * (one INSERT … SELECT over a recursive CTE, so the database makes the rows itself). Plain SQL that
 * SQLite and Postgres both speak.
 */
export interface SeedSpec {
  sourceId: number;
  routeId: number;
  channelId: string;
  count: number;
  /** Delivery status of every seeded event (default delivered: the worker leaves them alone). */
  status?: 'pending' | 'delivered' | 'failed';
  /** Spread over this many distinct Sentry issues (default 200). */
  issues?: number;
  /** Events arrive this far apart, the last one `spacingMs` ago (default 1000). */
  spacingMs?: number;
}

const ERROR = loadFixture('error.created.json') as any;

/** `count` error.created events (the fixture, about 3 KB, its issue id varied over `issues`), one delivery each. */
export async function seedMany(db: Database, spec: SeedSpec): Promise<void> {
  const { count, status = 'delivered', issues = 200, spacingMs = 1000 } = spec;
  const template = JSON.stringify({ ...ERROR, data: { ...ERROR.data, error: { ...ERROR.data.error, issue_id: '__ISSUE__' } } });
  const now = Date.now();
  const tag = randomUUID();
  await db.transaction(async (tx) => {
    await tx.run(sql`
      with recursive n(i) as (select 0 union all select i + 1 from n where i < ${count - 1})
      insert into events (id, source_id, event_type, body_hash, body, received_at, deduped)
      select ${tag} || '-' || i, ${spec.sourceId}, 'error.created', ${tag} || '-h-' || i,
        replace(${template}, '__ISSUE__', cast(7000000000 + (i % cast(${issues} as integer)) as text)),
        cast(${now} - (${count} - i) * ${spacingMs} as integer), ${false} from n`);
    await tx.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, status, attempts, next_attempt_at, card_key, delivered_at, message_id)
      select seq, ${spec.routeId}, ${spec.channelId}, ${status}, ${status === 'failed' ? 5 : 0},
        ${status === 'pending' ? now + 86_400_000 : sql`received_at`},
        'issue:' || cast(7000000000 + (seq % cast(${issues} as integer)) as text),
        ${status === 'delivered' ? sql`received_at` : null},
        ${status === 'delivered' ? sql`cast(1300000000000000000 + seq as text)` : null}
      from events where id like ${`${tag}-%`}`);
  });
}

/** Puts a channel on hold as the worker would after Discord refused it, next probed in a day. */
export async function holdChannel(db: Database, channelId: string, guildId: string): Promise<void> {
  const now = Date.now();
  await db.run(sql`
    insert into holds (channel_id, guild_id, code, reason, since, next_probe_at)
    values (${channelId}, ${guildId}, ${50013}, ${'Missing Permissions'}, ${now - 3_600_000}, ${now + 86_400_000})`);
}
