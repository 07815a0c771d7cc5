import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../src/db/database.js';

/**
 * Hundreds of thousands of stored events of one source, each with one delivery on one route, as
 * the webhook route would have stored them, only faster: one INSERT … SELECT over a recursive CTE,
 * so the database makes the rows itself (400,000 in about ten seconds). Plain SQL that SQLite and
 * Postgres both speak. Used by the bench's large-database section and the large-database tests.
 */
export interface SeedSpec {
  sourceId: number;
  routeId: number;
  channelId: string;
  count: number;
  /** The body of every event, `__ISSUE__` standing for its Sentry issue id. */
  template: string;
  eventType: string;
  /** Delivery status of every seeded event (default delivered: the worker leaves them alone). */
  status?: 'pending' | 'delivered' | 'failed';
  /** Spread over this many distinct Sentry issues (default 200). */
  issues?: number;
  /** Events arrive this far apart, the last one `spacingMs` ago (default 1000). */
  spacingMs?: number;
}

export async function seedRows(db: Database, spec: SeedSpec): Promise<void> {
  const { count, status = 'delivered', issues = 200, spacingMs = 1000 } = spec;
  const now = Date.now();
  const tag = randomUUID();
  await db.transaction(async (tx) => {
    await tx.run(sql`
      with recursive n(i) as (select 0 union all select i + 1 from n where i < ${count - 1})
      insert into events (id, source_id, event_type, body_hash, body, received_at, deduped)
      select ${tag} || '-' || i, ${spec.sourceId}, ${spec.eventType}, ${tag} || '-h-' || i,
        replace(${spec.template}, '__ISSUE__', cast(7000000000 + (i % cast(${issues} as integer)) as text)),
        cast(${now} - (${count} - i) * ${spacingMs} as integer), ${false} from n`);
    await addDeliveries(tx, { ...spec, status, issues, tag });
  });
}

/** One delivery on `routeId` for each event of the source (or only those seeded under `tag`). */
export async function addDeliveries(
  db: Database,
  spec: Pick<SeedSpec, 'routeId' | 'channelId' | 'status' | 'issues' | 'sourceId'> & { tag?: string },
): Promise<void> {
  const { status = 'delivered', issues = 200 } = spec;
  const now = Date.now();
  await db.run(sql`
    insert into deliveries (event_seq, route_id, channel_id, status, attempts, next_attempt_at, card_key, delivered_at, message_id)
    select seq, ${spec.routeId}, ${spec.channelId}, ${status}, ${status === 'failed' ? 5 : 0},
      ${status === 'pending' ? now + 86_400_000 : sql`received_at`},
      'issue:' || cast(7000000000 + (seq % cast(${issues} as integer)) as text),
      ${status === 'delivered' ? sql`received_at` : null},
      ${status === 'delivered' ? sql`cast(1300000000000000000 + seq as text)` : null}
    from events where source_id = ${spec.sourceId} ${spec.tag ? sql`and id like ${`${spec.tag}-%`}` : sql``}`);
}

/** Puts a channel on hold as the worker would after Discord refused it, next probed in a day. */
export async function holdChannel(db: Database, channelId: string, guildId: string): Promise<void> {
  const now = Date.now();
  await db.run(sql`
    insert into holds (channel_id, guild_id, code, reason, since, next_probe_at)
    values (${channelId}, ${guildId}, ${50013}, ${'Missing Permissions'}, ${now - 3_600_000}, ${now + 86_400_000})`);
}
