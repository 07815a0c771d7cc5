import { sql } from 'drizzle-orm';
import type { Database } from '../src/db/database.js';

/**
 * A database as a big installation has it: many sources (each a server's or a team's), each with a
 * card route and a feed route in channels of their own, each route with history (an event posted,
 * and for card routes open cards), none of it waiting. What it costs Dispatch per event, at start
 * and at rest, should not depend on how much of this exists.
 */

const ROWS_PER_STATEMENT = 200;

function chunks<T>(items: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

let nextSnowflake = 1_400_000_000_000_000_000n;
const snowflake = () => String((nextSnowflake += 1n));

export interface IdleSeed {
  sources: number;
  /** Open cards in all, spread over the card routes. */
  cards: number;
  guildId: string;
}

/** Adds `sources` idle sources (two routes each, half card and half feed), an event of history each, and `cards` open cards. */
export async function seedIdle(db: Database, seed: IdleSeed): Promise<{ routes: number; cards: number }> {
  const now = Date.now();
  const body = JSON.stringify({ action: 'created', data: { issue: { id: '1', title: 'history', level: 'error' } } });
  await db.transaction(async (tx) => {
    const sourceRows = Array.from({ length: seed.sources }, (_, i) => ({ name: `idle-${i}`, slug: `idle${String(i).padStart(28, '0')}` }));
    for (const part of chunks(sourceRows)) {
      await tx.run(sql`
        insert into sources (guild_id, name, slug, created_by, created_at, updated_at, events_received, events_delivered)
        values ${sql.join(
          part.map((s) => sql`(${seed.guildId}, ${s.name}, ${s.slug}, 'bench', ${now}, ${now}, 1, 2)`),
          sql`, `,
        )}`);
    }
    const sources = await tx.all<{ id: number }>(sql`select id from sources where name like 'idle-%' order by id`);
    const routes = sources.flatMap((s) => [
      { sourceId: Number(s.id), name: 'cards', layout: 'card', channelId: snowflake() },
      { sourceId: Number(s.id), name: 'feed', layout: 'feed', channelId: snowflake() },
    ]);
    for (const part of chunks(routes)) {
      await tx.run(sql`
        insert into routes (source_id, name, channel_id, layout, created_by, created_at, updated_at)
        values ${sql.join(
          part.map((r) => sql`(${r.sourceId}, ${r.name}, ${r.channelId}, ${r.layout}, 'bench', ${now}, ${now})`),
          sql`, `,
        )}`);
    }
    // One event of history per source, delivered on both of its routes.
    for (const part of chunks(sources)) {
      await tx.run(sql`
        insert into events (id, source_id, event_type, body_hash, body, received_at, deduped)
        values ${sql.join(
          part.map(
            (s) =>
              sql`(${`00000000-0000-4000-8000-${String(s.id).padStart(12, '0')}`}, ${Number(s.id)}, 'issue.created', ${`h${s.id}`}, ${body}, ${now}, ${false})`,
          ),
          sql`, `,
        )}`);
    }
    await tx.run(sql`
      insert into deliveries (event_seq, route_id, channel_id, status, next_attempt_at, delivered_at, message_id)
      select e.seq, r.id, r.channel_id, 'delivered', ${now}, ${now}, '1' from events e join routes r on r.source_id = e.source_id
      where e.id like '00000000-0000-4000-8000-%'`);
    // Open cards, spread over the card routes, each with its message as last sent.
    const cardRoutes = await tx.all<{ id: number; channel_id: string }>(
      sql`select id, channel_id from routes where layout = 'card' and name = 'cards' order by id`,
    );
    const state = (key: string) =>
      JSON.stringify({
        key,
        kind: 'issue',
        title: 'an open issue',
        status: 'unresolved',
        lastUpdate: { text: 'New issue', at: now },
        history: [],
      });
    const cards = Array.from({ length: seed.cards }, (_, i) => {
      const route = cardRoutes[i % cardRoutes.length]!;
      return { routeId: Number(route.id), channelId: route.channel_id, key: `issue:${7_000_000 + i}`, messageId: snowflake() };
    });
    for (const part of chunks(cards)) {
      await tx.run(sql`
        insert into cards (route_id, card_key, channel_id, message_id, state, posted_at, last_edit_at, updated_at)
        values ${sql.join(
          part.map((c) => sql`(${c.routeId}, ${c.key}, ${c.channelId}, ${c.messageId}, ${state(c.key)}, ${now}, ${now}, ${now})`),
          sql`, `,
        )}`);
      await tx.run(sql`
        insert into card_messages (message_id, channel_id, embeds, created_at)
        values ${sql.join(
          part.map((c) => sql`(${c.messageId}, ${c.channelId}, '[]', ${now})`),
          sql`, `,
        )}`);
    }
  });
  return { routes: seed.sources * 2, cards: seed.cards };
}
