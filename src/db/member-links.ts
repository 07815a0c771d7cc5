import { sql, type SQL } from 'drizzle-orm';
import { fromRow, type Database } from './database.js';
import { memberLinks, type MemberLink } from './schema.js';
import { targetsChanged } from './target-cache.js';
import type { ChannelId, GuildId, MemberLinkId, UserId } from '../ids.js';

/**
 * Members' own Sentry identities (src/people/): one row per member, server and Sentry organization.
 * Every read is scoped to the server the member asked in (a link given in one server is never used
 * in another), except `everywhere`, which only the member themselves can ask for.
 */

const toLink = (row: Record<string, unknown>): MemberLink => fromRow(memberLinks, row);

/** Where a link is given: a member of a server, for an organization at a Sentry URL. */
export interface LinkPlace {
  guildId: GuildId;
  userId: UserId;
  baseUrl: string;
  org: string;
}

/** What `/dispatch me connect` saves: the sealed token and who Sentry says it is. */
export interface NewLink extends LinkPlace {
  token: string;
  sentryUserId: string;
  sentryName: string;
  sentryEmail: string;
  scopes: readonly string[];
  dmChannelId: ChannelId | null;
}

/**
 * Saves a member's link, replacing the one they had for the same organization (a new token, or the
 * same one checked again): the notice and a closed-DMs mark go, their DM choices stay.
 */
export async function saveLink(db: Database, link: NewLink, now: number): Promise<MemberLink> {
  targetsChanged();
  const row = await db.get(sql`
    insert into member_links (guild_id, user_id, sentry_base_url, sentry_org, token, sentry_user_id, sentry_name, sentry_email, scopes,
      dm_channel_id, created_at, updated_at)
    values (${link.guildId}, ${link.userId}, ${link.baseUrl}, ${link.org}, ${link.token}, ${link.sentryUserId}, ${link.sentryName},
      ${link.sentryEmail}, ${link.scopes.join(' ')}, ${link.dmChannelId}, ${now}, ${now})
    on conflict (guild_id, user_id, sentry_base_url, sentry_org) do update set token = excluded.token,
      sentry_user_id = excluded.sentry_user_id, sentry_name = excluded.sentry_name, sentry_email = excluded.sentry_email,
      scopes = excluded.scopes, dm_channel_id = coalesce(excluded.dm_channel_id, member_links.dm_channel_id), dms_closed_at = null,
      notice = null, updated_at = excluded.updated_at
    returning *`);
  return toLink(row!);
}

/** A member's links in a server, oldest first. */
export async function linksOf(db: Database, guildId: GuildId, userId: UserId): Promise<MemberLink[]> {
  return (await db.all(sql`select * from member_links where guild_id = ${guildId} and user_id = ${userId} order by id`)).map(toLink);
}

/** The member's link for the organization at the Sentry URL a card's source calls, in this server. */
export async function linkAt(db: Database, place: LinkPlace): Promise<MemberLink | undefined> {
  const row = await db.get(sql`
    select * from member_links where guild_id = ${place.guildId} and user_id = ${place.userId}
      and sentry_base_url = ${place.baseUrl} and sentry_org = ${place.org}`);
  return row ? toLink(row) : undefined;
}

export async function linkById(db: Database, id: MemberLinkId): Promise<MemberLink | undefined> {
  const row = await db.get(sql`select * from member_links where id = ${id}`);
  return row ? toLink(row) : undefined;
}

/**
 * Removes links and what they made, in one transaction: their DM routes are removed (what waits
 * there is purged in the background, never sent), then the rows go, token and all.
 */
async function removeLinks(tx: Database, which: SQL, now: number): Promise<number> {
  const ids = (await tx.all<{ id: number }>(sql`select id from member_links where ${which}`)).map((r) => Number(r.id));
  if (ids.length === 0) return 0;
  await tx.run(sql`update routes set removed_at = coalesce(removed_at, ${now}), member_link_id = null where member_link_id in ${ids}`);
  await tx.run(sql`delete from member_links where id in ${ids}`);
  return ids.length;
}

/** `/dispatch me disconnect`: the member's links in this server, or (`everywhere`) in every server. Resolves with how many went. */
export function disconnect(db: Database, userId: UserId, where: GuildId | 'everywhere', now: number): Promise<number> {
  targetsChanged();
  const scope = where === 'everywhere' ? sql`` : sql`and guild_id = ${where}`;
  return db.transaction((tx) => removeLinks(tx, sql`user_id = ${userId} ${scope}`, now));
}

/**
 * Sentry refused a member's token (401): it is dropped at once (the link stays, without it, to say
 * so in `/dispatch me`), and, when they were not told at once, they are told `notice` in their next answer.
 */
export async function dropToken(db: Database, id: MemberLinkId, notice: string | null, now: number): Promise<void> {
  targetsChanged();
  await db.run(sql`update member_links set token = null, notice = ${notice}, updated_at = ${now} where id = ${id}`);
}

/** `/dispatch me notify`: which DMs the member wants in this server; asking again also lifts a closed-DMs mark. */
export async function setDirectMessages(
  db: Database,
  guildId: GuildId,
  userId: UserId,
  choice: { kinds: string; dmChannelId: ChannelId | null },
  now: number,
): Promise<number> {
  targetsChanged();
  return db.run(sql`
    update member_links set dm_kinds = ${choice.kinds}, dms_closed_at = null,
      dm_channel_id = coalesce(${choice.dmChannelId}, dm_channel_id), updated_at = ${now}
    where guild_id = ${guildId} and user_id = ${userId}`);
}

/**
 * Discord refused a DM to this member (50007: their DMs are closed to the bot, in every server
 * alike; or their DM channel is unknown to it, `forgetChannel`: opened again when they ask): no DM is written for them until they ask again, what waits for them is dropped with their
 * DM routes, and each of their servers tells them once.
 */
export function markDmsClosed(
  db: Database,
  userId: UserId,
  notice: string,
  now: number,
  { forgetChannel = false }: { forgetChannel?: boolean } = {},
): Promise<number> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const closed = await tx.run(sql`
      update member_links set dms_closed_at = ${now}, notice = ${notice}, updated_at = ${now}
        ${forgetChannel ? sql`, dm_channel_id = null` : sql``}
      where user_id = ${userId} and dms_closed_at is null`);
    await tx.run(sql`
      update routes set removed_at = ${now} where removed_at is null
        and member_link_id in (select id from member_links where user_id = ${userId})`);
    return closed;
  });
}

/** The member is no longer in the server: their links there go, as if they had disconnected. */
export function leftServer(db: Database, guildId: GuildId, userId: UserId, now: number): Promise<number> {
  return disconnect(db, userId, guildId, now);
}

/** What the member is to be told once (their DMs found closed), read and cleared together: a notice cleared is one told. */
export function takeNotices(db: Database, guildId: GuildId, userId: UserId): Promise<string[]> {
  return db.transaction(async (tx) => {
    const rows = await tx.all<{ id: number; notice: string }>(sql`
      select id, notice from member_links where guild_id = ${guildId} and user_id = ${userId} and notice is not null`);
    if (rows.length === 0) return [];
    await tx.run(sql`update member_links set notice = null where id in ${rows.map((r) => Number(r.id))}`);
    return [...new Set(rows.map((r) => r.notice))];
  });
}
