/**
 * Branded ids: a route id and a source id are both numbers at run time, but different types at
 * compile time, so passing one where the other belongs is a type error rather than a message in
 * another server's channel. Ids get their brand where they enter the program: a database row
 * (through the schema's column types), a Discord interaction, a component's custom id. The
 * constructors below are those entry points, and nothing else should cast.
 */
declare const brand: unique symbol;
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

/** `sources.id`: a Sentry integration (one webhook URL) of one Discord server. */
export type SourceId = Brand<number, 'SourceId'>;
/** `routes.id`: where some of a source's events go. */
export type RouteId = Brand<number, 'RouteId'>;
/** `events.seq`: an accepted webhook, in arrival order. */
export type EventSeq = Brand<number, 'EventSeq'>;
/** `events.id`: the id Sentry is answered with (a UUID). */
export type EventId = Brand<string, 'EventId'>;
/** `deliveries.seq`: one event on its way to one route's channel. */
export type DeliverySeq = Brand<number, 'DeliverySeq'>;
/** `digests.id`: a digest of a route (its claim). */
export type DigestId = Brand<number, 'DigestId'>;
/** A batch of deliveries sent as one message; also its Discord nonce. */
export type BatchId = Brand<string, 'BatchId'>;
/** A Discord server (guild) snowflake. */
export type GuildId = Brand<string, 'GuildId'>;
/** A Discord channel snowflake; a thread is a channel too. */
export type ChannelId = Brand<string, 'ChannelId'>;
/** A Discord message snowflake. */
export type MessageId = Brand<string, 'MessageId'>;
/** A Discord role snowflake. */
export type RoleId = Brand<string, 'RoleId'>;
/** What a card is about on a card route: `issue:<id>` or `incident:<id>`. */
export type CardKey = Brand<string, 'CardKey'>;
/** A Discord user snowflake (a member who clicks, connects, gets a direct message). */
export type UserId = Brand<string, 'UserId'>;
/** `member_links.id`: a member's own Sentry identity in one server, for one Sentry organization. */
export type MemberLinkId = Brand<number, 'MemberLinkId'>;

export const asSourceId = (id: number) => id as SourceId;
export const asRouteId = (id: number) => id as RouteId;
export const asEventSeq = (seq: number) => seq as EventSeq;
export const asEventId = (id: string) => id as EventId;
export const asDeliverySeq = (seq: number) => seq as DeliverySeq;
export const asBatchId = (id: string) => id as BatchId;
export const asDigestId = (id: number) => id as DigestId;
export const asGuildId = (id: string) => id as GuildId;
export const asChannelId = (id: string) => id as ChannelId;
export const asMessageId = (id: string) => id as MessageId;
export const asRoleId = (id: string) => id as RoleId;
export const asCardKey = (key: string) => key as CardKey;
export const asUserId = (id: string) => id as UserId;
export const asMemberLinkId = (id: number) => id as MemberLinkId;

/** A thread started from a message has the message's id, and is a channel one can post in. */
export const threadOfMessage = (messageId: MessageId) => messageId as string as ChannelId;

/** The server an interaction (or anything else discord.js hands over) comes from. */
export const guildOf = (from: { guildId: string }) => from.guildId as GuildId;
/** A channel or role discord.js hands over (a command option, the gateway's cache). */
export const channelIdOf = (channel: { id: string }) => channel.id as ChannelId;
export const roleIdOf = (role: { id: string }) => role.id as RoleId;
/** The member an interaction comes from. */
export const userOf = (from: { user: { id: string } }) => from.user.id as UserId;

/** An id a component's custom id carried back: untrusted, so a number only if it is one (it is then looked up within the clicker's server). */
function numericId(raw: string | undefined): number | undefined {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
export const parseRouteId = (raw: string | undefined) => numericId(raw) as RouteId | undefined;
export const parseSourceId = (raw: string | undefined) => numericId(raw) as SourceId | undefined;
