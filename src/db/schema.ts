import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type {
  BatchId,
  CardKey,
  ChannelId,
  DeliverySeq,
  DigestId,
  EventId,
  EventSeq,
  GuildId,
  MemberLinkId,
  MessageId,
  RoleId,
  RouteId,
  SourceId,
  UserId,
} from '../ids.js';

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

/** A Sentry integration (one webhook URL), owned by one Discord server; its routes say where events go. */
export const sources = sqliteTable(
  'sources',
  {
    id: integer('id').$type<SourceId>().primaryKey({ autoIncrement: true }),
    guildId: text('guild_id').$type<GuildId>().notNull(),
    name: text('name').notNull(),
    /** The secret part of the webhook URL: 24 random bytes, base64url. */
    slug: text('slug').notNull().unique(),
    provider: text('provider', { enum: ['sentry'] })
      .notNull()
      .default('sentry'),
    /** Sentry's Client Secret; null means the signature check is skipped. */
    signingSecret: text('signing_secret'),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    createdBy: text('created_by').notNull(),
    createdAt: integer('created_at').notNull().default(now),
    updatedAt: integer('updated_at').notNull().default(now),
    eventsReceived: integer('events_received').notNull().default(0),
    eventsDelivered: integer('events_delivered').notNull().default(0),
    eventsFailed: integer('events_failed').notNull().default(0),
    lastEventAt: integer('last_event_at'),
    lastError: text('last_error'),
    lastErrorAt: integer('last_error_at'),
    /** Events that were waiting when their route (or a route of theirs) was removed: never posted, and counted here. */
    eventsDropped: integer('events_dropped').notNull().default(0),
    /** Events counted in flood summaries instead of posted one by one, and how many summaries. */
    eventsCollapsed: integer('events_collapsed').notNull().default(0),
    floodSummaries: integer('flood_summaries').notNull().default(0),
    lastFloodAt: integer('last_flood_at'),
    /** The last custom template failure (the built-in embed was posted instead). */
    lastTemplateError: text('last_template_error'),
    lastTemplateErrorAt: integer('last_template_error_at'),
    /** Sentry's API, for triage from the cards: an internal integration's token (sealed like signing secrets)… */
    sentryToken: text('sentry_token'),
    /** …the Sentry it belongs to (https://sentry.io, or a self-hosted one)… */
    sentryBaseUrl: text('sentry_base_url'),
    /** …the organization, when given (otherwise read from each issue's payload)… */
    sentryOrg: text('sentry_org'),
    /** …who the token acts as and its scopes, as Sentry said when it was checked. */
    sentryIdentity: text('sentry_identity'),
    /** The last time Sentry refused the token (revoked, missing a scope), for `info`. */
    sentryProblem: text('sentry_problem'),
    /**
     * The last read-back of its cards from Sentry (src/cards/reconciler.ts): when it began (also
     * the claim that keeps replicas from doing it twice), how many cards it read and set right,
     * and what kept it short, if anything.
     */
    cardSyncedAt: integer('card_synced_at'),
    cardsChecked: integer('cards_checked').notNull().default(0),
    cardsFixed: integer('cards_fixed').notNull().default(0),
    cardSyncProblem: text('card_sync_problem'),
    /**
     * Set when the source was deleted: from then on it is gone for every command and webhook, and
     * its events are purged in small batches in the background (src/db/purge.ts), so a delete
     * answers at once however much the source stored. The row goes last.
     */
    deletedAt: integer('deleted_at'),
  },
  (t) => [
    uniqueIndex('sources_guild_name')
      .on(t.guildId, t.name)
      .where(sql`${t.deletedAt} is null`),
  ],
);

/**
 * A member's own Sentry identity in one server (src/people/): their Sentry user auth token (sealed
 * like other secrets; null once Sentry refused it) for one Sentry organization at one Sentry URL,
 * who Sentry says it is, and the direct messages they want. Given in one server, used in that one
 * only: a member in two servers links each separately.
 */
export const memberLinks = sqliteTable(
  'member_links',
  {
    id: integer('id').$type<MemberLinkId>().primaryKey({ autoIncrement: true }),
    guildId: text('guild_id').$type<GuildId>().notNull(),
    userId: text('user_id').$type<UserId>().notNull(),
    sentryBaseUrl: text('sentry_base_url').notNull(),
    sentryOrg: text('sentry_org').notNull(),
    token: text('token'),
    /** Who the token is, as Sentry's `GET /api/0/` said: its user id (what webhooks name assignees and actors by), name and email. */
    sentryUserId: text('sentry_user_id').notNull(),
    sentryName: text('sentry_name').notNull(),
    sentryEmail: text('sentry_email').notNull(),
    scopes: text('scopes').notNull().default(''),
    /** Which direct messages they want, comma-separated (src/people/dm-kinds.ts). */
    dmKinds: text('dm_kinds').notNull().default('assigned'),
    /** Their direct-message channel with the bot, once opened. */
    dmChannelId: text('dm_channel_id').$type<ChannelId>(),
    /** Discord refused a direct message to them (50007): none is written until they ask again (`/dispatch me notify`). */
    dmsClosedAt: integer('dms_closed_at'),
    /** Something to tell them once, in their next answer from Dispatch (their DMs closed, their token refused). */
    notice: text('notice'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('member_links_member').on(t.guildId, t.userId, t.sentryBaseUrl, t.sentryOrg),
    index('member_links_sentry_user').on(t.guildId, t.sentryUserId),
  ],
);

/**
 * Where a source's events go: a channel, with an optional filter and role to ping. A source has at
 * least one; the first is made with the source.
 */
export const routes = sqliteTable(
  'routes',
  {
    id: integer('id').$type<RouteId>().primaryKey({ autoIncrement: true }),
    sourceId: integer('source_id')
      .$type<SourceId>()
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    channelId: text('channel_id').$type<ChannelId>().notNull(),
    /** The route filter as JSON (see src/routing/filter.ts); `{}` lets everything through. */
    filter: text('filter').notNull().default('{}'),
    /** A role mentioned in the message for events at or above `pingLevel`. */
    pingRoleId: text('ping_role_id').$type<RoleId>(),
    pingLevel: text('ping_level').notNull().default('error'),
    /**
     * `card`: one message per Sentry issue (or metric alert incident), edited as it changes, its
     * history in a thread. `feed`: one message per event. New routes get `card`; routes from
     * before cards keep `feed`.
     */
    layout: text('layout', { enum: ['card', 'feed'] })
      .notNull()
      .default('feed'),
    /** Why this route's cards have no thread (Discord refused to make one), if so. */
    threadProblem: text('thread_problem'),
    /** Besides members with Manage Server, members with this role may use the triage buttons on its cards. */
    triageRoleId: text('triage_role_id').$type<RoleId>(),
    /** Events this route let through to no message, by its filter. */
    eventsFiltered: integer('events_filtered').notNull().default(0),
    /**
     * Quiet hours and digests (src/schedule/route-schedule.ts), on the wall clock of `timeZone`.
     * Quiet hours: from `quietFrom` to `quietTo` (minutes after midnight; none when null) only
     * events at or above `quietPass` go out as usual; a feed route holds the rest for a digest when
     * they end, a card route edits and posts its cards without notifications.
     */
    timeZone: text('time_zone').notNull().default('UTC'),
    quietFrom: integer('quiet_from'),
    quietTo: integer('quiet_to'),
    quietPass: text('quiet_pass').notNull().default('fatal'),
    /** A digest of the route's events `daily` or `weekly` (on `digestWeekday`, 0 Sunday) at `digestAt` minutes after midnight. */
    digestEvery: text('digest_every', { enum: ['daily', 'weekly'] }),
    digestWeekday: integer('digest_weekday').notNull().default(0),
    digestAt: integer('digest_at'),
    /** Post a digest that says nothing happened, rather than nothing. */
    digestWhenEmpty: integer('digest_when_empty', { mode: 'boolean' }).notNull().default(false),
    /** When the quiet hours (or the time zone) were last set: the first quiet digest covers from here. */
    quietSince: integer('quiet_since'),
    /** When the digest's schedule (or the time zone) was last set: a digest before it does not stretch the next one back. */
    digestSince: integer('digest_since'),
    createdBy: text('created_by').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** Set when the route was removed: gone for commands and delivery, its deliveries purged in the background (as a deleted source's). */
    removedAt: integer('removed_at'),
    /**
     * `channel`: a route the server's admins made. `dm`: one member's direct messages about this
     * source's issues (src/people/), made and removed by Dispatch and never shown by route
     * commands; its deliveries go through the same queue, budget and retries as a channel's.
     */
    kind: text('kind', { enum: ['channel', 'dm'] })
      .notNull()
      .default('channel'),
    /** A `dm` route's member; null once their link is gone (the route is removed with it). */
    memberLinkId: integer('member_link_id')
      .$type<MemberLinkId>()
      .references(() => memberLinks.id, { onDelete: 'set null' }),
  },
  (t) => [
    uniqueIndex('routes_source_name')
      .on(t.sourceId, t.name)
      .where(sql`${t.removedAt} is null`),
    index('routes_source').on(t.sourceId),
    index('routes_member').on(t.memberLinkId),
  ],
);

/**
 * An accepted webhook, stored before the 202. Its deliveries (one per route that lets it through)
 * are written in the same transaction.
 */
export const events = sqliteTable(
  'events',
  {
    seq: integer('seq').$type<EventSeq>().primaryKey({ autoIncrement: true }),
    id: text('id').$type<EventId>().notNull().unique(),
    sourceId: integer('source_id')
      .$type<SourceId>()
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    eventType: text('event_type').notNull(),
    /** SHA-256 of the raw body: the same bytes to the same source within the dedupe window are one event. */
    bodyHash: text('body_hash').notNull(),
    /** Still the event identical bytes are matched against; cleared once the dedupe window has passed. */
    deduped: integer('deduped', { mode: 'boolean' }).notNull().default(true),
    /** Identical bodies received again within the window (answered with this event's id, not posted). */
    duplicates: integer('duplicates').notNull().default(0),
    lastDuplicateAt: integer('last_duplicate_at'),
    body: text('body').notNull(),
    /** When it was stored: rises with `seq` (periods are seq ranges found by it, src/db/digest-read.ts). */
    receivedAt: integer('received_at').notNull(),
    /**
     * When it reached Dispatch, when that was before it was stored (a webhook a replica kept in its
     * spool while the database was away); null: when it was stored. Its dedupe window is judged
     * from it, and a DM's (src/people/dm-once.ts).
     */
    arrivedAt: integer('arrived_at'),
    /** The ids of the routes whose filters kept this event out, as a JSON list. */
    filteredBy: text('filtered_by').notNull().default('[]'),
  },
  (t) => [
    uniqueIndex('events_source_body')
      .on(t.sourceId, t.bodyHash)
      .where(sql`${t.deduped}`),
    index('events_source_seq').on(t.sourceId, t.seq),
    index('events_received').on(t.receivedAt),
  ],
);

/**
 * One event on its way to one route: the delivery job. Its state is `status`, written only by
 * src/db/delivery-state/ (the table of states and transitions is there and in the README). A
 * waiting delivery goes to its route's channel as it is when its send begins; `seq` orders the
 * deliveries of a route, and of a channel across routes (it follows the events' order, since both
 * are written in one transaction).
 */
export const deliveries = sqliteTable(
  'deliveries',
  {
    seq: integer('seq').$type<DeliverySeq>().primaryKey({ autoIncrement: true }),
    eventSeq: integer('event_seq')
      .$type<EventSeq>()
      .notNull()
      .references(() => events.seq, { onDelete: 'cascade' }),
    routeId: integer('route_id')
      .$type<RouteId>()
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    /**
     * The channel its batch was formed for and is (or was last) sent to. Only a `sending` delivery
     * is bound to it; a waiting one follows its route, and keeps its batch (and nonce) only while
     * the route still posts here.
     */
    channelId: text('channel_id').$type<ChannelId>().notNull(),
    /** The card the event is about (`issue:<id>`, `incident:<id>`), whatever the route's layout. */
    cardKey: text('card_key').$type<CardKey>(),
    /** See DELIVERY_STATES in src/db/delivery-state/. */
    status: text('status', { enum: ['pending', 'sending', 'quiet', 'delivered', 'collapsed', 'digested', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    /** Set when a send begins; a restart resends the same batch with the same Discord nonce. */
    batchId: text('batch_id').$type<BatchId>(),
    /** After Discord refused a batch as invalid, this delivery is sent on its own. */
    solo: integer('solo', { mode: 'boolean' }).notNull().default(false),
    /** Arrived during its card route's quiet hours below `quietPass`: posted without a notification, and without its ping. */
    muted: integer('muted', { mode: 'boolean' }).notNull().default(false),
    /** Its batch is a flood summary: a resend rebuilds the summary, not one embed per event. */
    summary: integer('summary', { mode: 'boolean' }).notNull().default(false),
    /** How it is drawn after Discord refused a drawing: 0 as usual, 1 the built-in embed, 2 the generic embed. */
    renderFallback: integer('render_fallback').notNull().default(0),
    lastError: text('last_error'),
    deliveredAt: integer('delivered_at'),
    messageId: text('message_id').$type<MessageId>(),
    /** The quiet-hours digest that took it (status `digested`): the digest is drawn from exactly these. */
    digestId: integer('digest_id').$type<DigestId>(),
  },
  (t) => [
    // The queue: which routes have waiting deliveries, and each route's in order.
    index('deliveries_queue').on(t.status, t.routeId, t.seq),
    // Partial: only what is being sent, so inserts never touch it.
    index('deliveries_sending')
      .on(t.channelId, t.batchId)
      .where(sql`${t.status} = 'sending'`),
    // Partial: new deliveries have no batch yet, so inserts never touch it.
    index('deliveries_batch')
      .on(t.batchId)
      .where(sql`${t.batchId} is not null`),
    index('deliveries_event').on(t.eventSeq),
    index('deliveries_card').on(t.routeId, t.cardKey, t.status),
    index('deliveries_digest')
      .on(t.digestId)
      .where(sql`${t.digestId} is not null`),
  ],
);

/**
 * A live card: the message that shows a Sentry issue's (or metric alert incident's) current state
 * on a card route, edited in place; its history goes to a thread on the message that first showed it.
 */
export const cards = sqliteTable(
  'cards',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    routeId: integer('route_id')
      .$type<RouteId>()
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    cardKey: text('card_key').$type<CardKey>().notNull(),
    channelId: text('channel_id').$type<ChannelId>().notNull(),
    messageId: text('message_id').$type<MessageId>().notNull(),
    /** Where its embed sits in its message; several new cards of a burst share one message. */
    position: integer('position').notNull().default(0),
    /** The message holds other cards too: it is edited by sending all of their embeds, and has no thread. */
    shared: integer('shared', { mode: 'boolean' }).notNull().default(false),
    /** The thread of its history (its id is the id of the message it was started from). */
    threadId: text('thread_id').$type<ChannelId>(),
    /** The card's state (src/cards/state.ts), as JSON. */
    state: text('state').notNull(),
    /** When its message was posted (a card older than CARD_BUMP_AFTER is posted again when it needs eyes). */
    postedAt: integer('posted_at').notNull(),
    lastEditAt: integer('last_edit_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    /** Set while resolved: a resolved card quiet for EVENT_RETENTION is pruned. */
    resolvedAt: integer('resolved_at'),
  },
  (t) => [uniqueIndex('cards_route_key').on(t.routeId, t.cardKey), index('cards_message').on(t.messageId)],
);

/**
 * A message that shows cards, as last sent: an edit changes one card's embed and sends them all
 * again (Discord replaces a message's embeds as a whole). A card that moved down leaves a pointer.
 */
export const cardMessages = sqliteTable('card_messages', {
  messageId: text('message_id').$type<MessageId>().primaryKey(),
  channelId: text('channel_id').$type<ChannelId>().notNull(),
  /** Its embeds as JSON, a card's at the card's `position` (or a pointer where a card moved down). */
  embeds: text('embeds').notNull(),
  content: text('content'),
  /** Its buttons or menu as JSON, as last sent (a shared message keeps its menu of issues). */
  components: text('components').notNull().default('[]'),
  createdAt: integer('created_at').notNull(),
});

/**
 * Which delivery tells a member of a Sentry change, one row per member and change lately
 * (src/people/dm-once.ts): when several sources (of one server or several) receive Sentry's webhook
 * for the same change, each copy writes its DM, and the first that can be sent claims the change
 * here just before its request (the unique key decides between replicas); the others are not sent.
 * `dm_key` names the Discord user and the change (hashed); `received_at` is when the claiming copy
 * arrived (a copy arriving more than the window later is news again); `delivery_seq` the claiming
 * delivery, whose own retries claim again. Rows go with housekeeping after a day.
 */
export const dmSent = sqliteTable(
  'dm_sent',
  {
    dmKey: text('dm_key').primaryKey(),
    receivedAt: integer('received_at').notNull(),
    deliverySeq: integer('delivery_seq').$type<DeliverySeq>().notNull(),
  },
  (t) => [index('dm_sent_received_at').on(t.receivedAt)],
);

/**
 * A channel Discord refused for a reason a person can fix (missing access or permissions, unknown
 * channel, a rejected token). Its events wait instead of failing; the worker probes it again.
 */
export const holds = sqliteTable('holds', {
  channelId: text('channel_id').$type<ChannelId>().primaryKey(),
  guildId: text('guild_id').$type<GuildId>().notNull(),
  /** Discord's error code (50001, 50013, 10003) or HTTP status (401). */
  code: integer('code').notNull(),
  reason: text('reason').notNull(),
  since: integer('since').notNull(),
  /** When the worker next sends one request to see whether it was fixed. */
  nextProbeAt: integer('next_probe_at').notNull(),
});

/** A custom message template of a source, for an event type (`issue.created`), a resource (`issue.*`) or all (`*`). */
export const templates = sqliteTable(
  'templates',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sourceId: integer('source_id')
      .$type<SourceId>()
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    /** A route's own template; null for the source's, which apply to routes without their own. */
    routeId: integer('route_id')
      .$type<RouteId>()
      .references(() => routes.id, { onDelete: 'cascade' }),
    eventPattern: text('event_pattern').notNull(),
    /** The template JSON exactly as the admin pasted it. */
    body: text('body').notNull(),
    updatedBy: text('updated_by').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('templates_source_pattern')
      .on(t.sourceId, t.eventPattern)
      .where(sql`${t.routeId} is null`),
    uniqueIndex('templates_route_pattern')
      .on(t.routeId, t.eventPattern)
      .where(sql`${t.routeId} is not null`),
  ],
);

/**
 * A role an alert rule in Sentry may ping through a source: one that the check Sentry asks for when
 * the rule is saved (POST /sentry-ui/<slug>/settings) found to be a mentionable role of the
 * source's own server. An alert's ping role that is not here never pings.
 */
export const alertPingRoles = sqliteTable(
  'alert_ping_roles',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sourceId: integer('source_id')
      .$type<SourceId>()
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    roleId: text('role_id').$type<RoleId>().notNull(),
    acceptedAt: integer('accepted_at').notNull(),
  },
  (t) => [uniqueIndex('alert_ping_roles_source_role').on(t.sourceId, t.roleId)],
);

/**
 * A digest of a route: of the night its quiet hours held (`quiet`), of what they held past that
 * night's digest (`leftover`), of its last day or week (`scheduled`), or asked for (`now`). The row is the claim: one per route, kind and period end
 * (unique), written with the stored digest event in one transaction, so a digest is made once
 * however many replicas see it due, and a restart before it was made makes it then.
 */
export const digests = sqliteTable(
  'digests',
  {
    id: integer('id').$type<DigestId>().primaryKey({ autoIncrement: true }),
    routeId: integer('route_id')
      .$type<RouteId>()
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['quiet', 'leftover', 'scheduled', 'now'] }).notNull(),
    periodStart: integer('period_start').notNull(),
    periodEnd: integer('period_end').notNull(),
    /** The events it counts; 0 for an empty period (no message unless the route asks for one). */
    events: integer('events').notNull().default(0),
    /** The stored `dispatch.digest` event that carries it to the channel, if there was anything to say. */
    eventId: text('event_id').$type<EventId>(),
    createdAt: integer('created_at').notNull(),
    /**
     * Null while it is being made (claimed, not yet drawn and stored); a restart finishes a digest
     * left so. `attempts` counts the tries, so one that cannot be drawn is given up, not retried forever.
     */
    doneAt: integer('done_at'),
    attempts: integer('attempts').notNull().default(0),
  },
  (t) => [uniqueIndex('digests_route_kind_end').on(t.routeId, t.kind, t.periodEnd)],
);

/**
 * Facts about the database itself, one row each. `key_check`: which key its secrets are sealed
 * with, as a check value that does not reveal the key (see key-check.ts), so that a process
 * holding another key refuses to start instead of failing each webhook it cannot verify.
 */
export const settings = sqliteTable('settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export type Source = typeof sources.$inferSelect;
export type TemplateRow = typeof templates.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type Route = typeof routes.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
export type CardRow = typeof cards.$inferSelect;
export type CardMessageRow = typeof cardMessages.$inferSelect;
export type Hold = typeof holds.$inferSelect;
export type DigestRow = typeof digests.$inferSelect;
export type MemberLink = typeof memberLinks.$inferSelect;
