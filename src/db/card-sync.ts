import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { sources, type Source } from './schema.js';
import { asRouteId, asSourceId, type CardKey, type ChannelId, type RouteId, type SourceId } from '../ids.js';

/** Sources that can read their cards back from Sentry: connected with a token, and enabled. */
export async function connectedSourceIds(db: Database): Promise<SourceId[]> {
  const rows = await db.all<{ id: number }>(
    sql`select id from sources where sentry_token is not null and enabled and deleted_at is null order by id`,
  );
  return rows.map((r) => asSourceId(Number(r.id)));
}

/**
 * Takes a source's read-back for this replica: true for exactly one caller while its last one
 * began at or before `dueBefore` (or never ran). The time it records is the claim.
 */
export async function claimCardSync(db: Database, sourceId: SourceId, now: number, dueBefore: number): Promise<boolean> {
  const changed = await db.run(sql`
    update sources set card_synced_at = ${now}
    where id = ${sourceId} and (card_synced_at is null or card_synced_at <= ${dueBefore})`);
  return changed === 1;
}

/** A card the read-back compares with Sentry. */
export interface CardToSync {
  routeId: RouteId;
  sourceId: SourceId;
  channelId: ChannelId;
  cardKey: CardKey;
  state: string;
}

/**
 * A source's issue cards on its card routes seen since `since`, most recently changed first. A
 * card with events still waiting or being sent is left for the next time: those events are about
 * to change it (a read-back's own correction among them).
 */
export async function cardsToSync(db: Database, sourceId: SourceId, since: number, limit: number): Promise<CardToSync[]> {
  const rows = await db.all<{ route_id: number; channel_id: ChannelId; card_key: CardKey; state: string }>(sql`
    select c.route_id, r.channel_id, c.card_key, c.state from cards c join routes r on r.id = c.route_id
    where r.source_id = ${sourceId} and r.layout = 'card' and r.removed_at is null and c.card_key like 'issue:%' and c.updated_at >= ${since}
      and not exists (select 1 from deliveries d
        where d.route_id = c.route_id and d.card_key = c.card_key and d.status in ('pending', 'sending'))
    order by c.updated_at desc limit ${limit}`);
  return rows.map((r) => ({
    routeId: asRouteId(Number(r.route_id)),
    sourceId,
    channelId: r.channel_id,
    cardKey: r.card_key,
    state: r.state,
  }));
}

/** What the read-back did, for `/dispatch source info`. */
export async function recordCardSync(
  db: Database,
  sourceId: SourceId,
  outcome: { startedAt: number; checked: number; fixed: number; problem: string | null },
): Promise<void> {
  await db.run(sql`
    update sources set card_synced_at = ${outcome.startedAt}, cards_checked = ${outcome.checked}, cards_fixed = ${outcome.fixed},
      card_sync_problem = ${outcome.problem}
    where id = ${sourceId}`);
}

/** A source by id, whatever its server: for work no member asked for (the read-back). */
export async function sourceById(db: Database, sourceId: SourceId): Promise<Source | undefined> {
  const row = await db.get(sql`select * from sources where id = ${sourceId}`);
  return row ? fromRow(sources, row) : undefined;
}
