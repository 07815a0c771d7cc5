import type { APIEmbed } from 'discord.js';
import { sql } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { cardMessages, cards, type CardMessageRow, type CardRow } from './schema.js';
import type { ActionRow } from '../triage/components.js';
import { asRouteId, type CardKey, type ChannelId, type GuildId, type MessageId, type RouteId, type SourceId } from '../ids.js';

const toCard = (row: Record<string, unknown>): CardRow => fromRow(cards, row);

/** The cards of these deliveries that exist, by `routeId:cardKey`. */
export async function cardsOfKeys(
  db: Database,
  jobs: readonly { routeId: RouteId; cardKey: CardKey | null }[],
): Promise<Map<string, CardRow>> {
  const keysByRoute = new Map<RouteId, CardKey[]>();
  for (const { routeId, cardKey } of jobs) if (cardKey) keysByRoute.set(routeId, [...(keysByRoute.get(routeId) ?? []), cardKey]);
  const found = new Map<string, CardRow>();
  for (const [routeId, keys] of keysByRoute) {
    for (const row of await db.all(sql`select * from cards where route_id = ${routeId} and card_key in ${keys}`)) {
      const card = toCard(row);
      found.set(`${card.routeId}:${card.cardKey}`, card);
    }
  }
  return found;
}

export interface CardWrite {
  routeId: RouteId;
  cardKey: CardKey;
  channelId: ChannelId;
  messageId: MessageId;
  position: number;
  shared: boolean;
  threadId: ChannelId | null;
  state: string;
  postedAt: number;
  lastEditAt: number;
  updatedAt: number;
  resolvedAt: number | null;
}

/**
 * Records a card as it now is (a new card, an edit, or a card posted again further down), where it
 * is, even if its route has moved meanwhile (the next event moves it). A route removed while its
 * card was being sent keeps no card.
 */
export async function saveCard(db: Database, card: CardWrite): Promise<void> {
  if (!(await db.get(sql`select 1 as ok from routes where id = ${card.routeId}`))) return;
  await db.run(sql`
    insert into cards (route_id, card_key, channel_id, message_id, position, shared, thread_id, state, posted_at, last_edit_at, updated_at, resolved_at)
    values (${card.routeId}, ${card.cardKey}, ${card.channelId}, ${card.messageId}, ${card.position}, ${card.shared}, ${card.threadId}, ${card.state},
      ${card.postedAt}, ${card.lastEditAt}, ${card.updatedAt}, ${card.resolvedAt})
    on conflict (route_id, card_key) do update set channel_id = excluded.channel_id, message_id = excluded.message_id,
      position = excluded.position, shared = excluded.shared, thread_id = excluded.thread_id, state = excluded.state,
      posted_at = excluded.posted_at, last_edit_at = excluded.last_edit_at, updated_at = excluded.updated_at, resolved_at = excluded.resolved_at`);
}

/** A card message as last sent. */
export interface SentCardMessage {
  embeds: APIEmbed[];
  content: string | null;
  components: ActionRow[];
}

export async function cardMessage(db: Database, messageId: MessageId): Promise<SentCardMessage | undefined> {
  const row = await db.get(sql`select * from card_messages where message_id = ${messageId}`);
  if (!row) return undefined;
  const message: CardMessageRow = fromRow(cardMessages, row);
  return {
    embeds: JSON.parse(message.embeds) as APIEmbed[],
    content: message.content,
    components: JSON.parse(message.components) as ActionRow[],
  };
}

export async function saveCardMessage(
  db: Database,
  message: SentCardMessage & { messageId: MessageId; channelId: ChannelId },
  now: number,
): Promise<void> {
  await db.run(sql`
    insert into card_messages (message_id, channel_id, embeds, content, components, created_at)
    values (${message.messageId}, ${message.channelId}, ${JSON.stringify(message.embeds)}, ${message.content},
      ${JSON.stringify(message.components)}, ${now})
    on conflict (message_id) do update set embeds = excluded.embeds, content = excluded.content, components = excluded.components`);
}

/** Resolved cards quiet since before `olderThan` are forgotten (a new event about them starts a new card), and so are messages no card shows. */
export async function pruneCards(db: Database, olderThan: number): Promise<number> {
  const removed = await db.run(sql`delete from cards where resolved_at is not null and updated_at < ${olderThan}`);
  await db.run(
    sql`delete from card_messages where created_at < ${olderThan} and not exists (select 1 from cards c where c.message_id = card_messages.message_id)`,
  );
  return removed;
}

export async function setThreadProblem(db: Database, routeId: RouteId, problem: string | null): Promise<void> {
  await db.run(sql`update routes set thread_problem = ${problem} where id = ${routeId}`);
}

/** Card routes of a server whose threads Discord refused, with the channel they post to. */
export async function routesWithThreadProblem(db: Database, guildId: GuildId): Promise<{ id: RouteId; channelId: ChannelId }[]> {
  const rows = await db.all<{ id: RouteId; channel_id: ChannelId }>(sql`
    select r.id, r.channel_id from routes r join sources s on s.id = r.source_id
    where s.guild_id = ${guildId} and r.thread_problem is not null`);
  return rows.map((r) => ({ id: asRouteId(Number(r.id)), channelId: r.channel_id }));
}

export async function findCardByKey(db: Database, routeId: RouteId, cardKey: CardKey): Promise<CardRow | undefined> {
  const row = await db.get(sql`select * from cards where route_id = ${routeId} and card_key = ${cardKey}`);
  return row ? toCard(row) : undefined;
}

/** The Sentry organization a source's cards learned from their payloads: for a source connected without naming one. */
export async function orgOfCards(db: Database, sourceId: SourceId): Promise<string | undefined> {
  const rows = await db.all<{ state: string }>(sql`
    select c.state from cards c join routes r on r.id = c.route_id where r.source_id = ${sourceId} order by c.updated_at desc limit 5`);
  return rows.map((r) => (JSON.parse(r.state) as { org?: string }).org).find((org) => org !== undefined);
}

/** An issue's card as a server's members may look it up: where it is, on which route (and who may triage there), and what it shows. */
export interface ServerCard {
  routeId: RouteId;
  sourceId: SourceId;
  channelId: ChannelId;
  messageId: MessageId;
  triageRoleId: string | null;
  state: string;
}

/** Issue cards among the live channel routes of a server's live sources. */
const SERVER_CARDS = (guildId: GuildId) => sql`
  select c.route_id, r.source_id, c.channel_id, c.message_id, r.triage_role_id, c.state
  from cards c join routes r on r.id = c.route_id join sources s on s.id = r.source_id
  where s.guild_id = ${guildId} and s.deleted_at is null and r.removed_at is null and r.kind = 'channel'`;

const toServerCard = (r: Record<string, unknown>): ServerCard => ({
  routeId: asRouteId(Number(r.route_id)),
  sourceId: Number(r.source_id) as SourceId,
  channelId: r.channel_id as ChannelId,
  messageId: r.message_id as MessageId,
  triageRoleId: (r.triage_role_id as string | null) ?? null,
  state: String(r.state),
});

/** An issue's cards in a server, the one changed last first. */
export async function serverCardsOf(db: Database, guildId: GuildId, cardKey: CardKey): Promise<ServerCard[]> {
  return (await db.all(sql`${SERVER_CARDS(guildId)} and c.card_key = ${cardKey} order by c.updated_at desc limit 10`)).map(toServerCard);
}

/**
 * A server's newest issue cards, at most `limit` (the newest by id: the primary key's order, so a
 * server with thousands of cards costs no sort): what autocomplete and a short id are looked up in.
 */
export async function newestServerCards(db: Database, guildId: GuildId, limit: number): Promise<ServerCard[]> {
  return (await db.all(sql`${SERVER_CARDS(guildId)} and c.card_key like 'issue:%' order by c.id desc limit ${limit}`)).map(toServerCard);
}
