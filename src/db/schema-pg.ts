/**
 * The same tables for Postgres, for drizzle-kit to generate Postgres's migrations from
 * (`npm run db:generate`). The program reads rows through the SQLite schema's column list
 * (src/db/database.ts fromRow), whatever the dialect; test/unit/schemas.test.ts keeps the two
 * schemas' tables, columns and nullability equal. Times are milliseconds, so bigint here; ids
 * are identities.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';

const now = sql`((extract(epoch from now()) * 1000)::bigint)`;

/** A Sentry integration (one webhook URL), owned by one Discord server; its routes say where events go. */
export const sources = pgTable(
  'sources',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    guildId: text('guild_id').notNull(),
    name: text('name').notNull(),
    /** The secret part of the webhook URL: 24 random bytes, base64url. */
    slug: text('slug').notNull().unique(),
    provider: text('provider', { enum: ['sentry'] })
      .notNull()
      .default('sentry'),
    /** Sentry's Client Secret; null means the signature check is skipped. */
    signingSecret: text('signing_secret'),
    enabled: boolean('enabled').notNull().default(true),
    createdBy: text('created_by').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull().default(now),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull().default(now),
    eventsReceived: integer('events_received').notNull().default(0),
    eventsDelivered: integer('events_delivered').notNull().default(0),
    eventsFailed: integer('events_failed').notNull().default(0),
    lastEventAt: bigint('last_event_at', { mode: 'number' }),
    lastError: text('last_error'),
    lastErrorAt: bigint('last_error_at', { mode: 'number' }),
    /** Events that were waiting when their route (or a route of theirs) was removed: never posted, and counted here. */
    eventsDropped: integer('events_dropped').notNull().default(0),
    /** Events counted in flood summaries instead of posted one by one, and how many summaries. */
    eventsCollapsed: integer('events_collapsed').notNull().default(0),
    floodSummaries: integer('flood_summaries').notNull().default(0),
    lastFloodAt: bigint('last_flood_at', { mode: 'number' }),
    /** The last custom template failure (the built-in embed was posted instead). */
    lastTemplateError: text('last_template_error'),
    lastTemplateErrorAt: bigint('last_template_error_at', { mode: 'number' }),
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
    cardSyncedAt: bigint('card_synced_at', { mode: 'number' }),
    cardsChecked: integer('cards_checked').notNull().default(0),
    cardsFixed: integer('cards_fixed').notNull().default(0),
    cardSyncProblem: text('card_sync_problem'),
    deletedAt: bigint('deleted_at', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('sources_guild_name')
      .on(t.guildId, t.name)
      .where(sql`${t.deletedAt} is null`),
  ],
);

/** A member's own Sentry identity in one server (see the SQLite schema). */
export const memberLinks = pgTable(
  'member_links',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    guildId: text('guild_id').notNull(),
    userId: text('user_id').notNull(),
    sentryBaseUrl: text('sentry_base_url').notNull(),
    sentryOrg: text('sentry_org').notNull(),
    token: text('token'),
    sentryUserId: text('sentry_user_id').notNull(),
    sentryName: text('sentry_name').notNull(),
    sentryEmail: text('sentry_email').notNull(),
    scopes: text('scopes').notNull().default(''),
    dmKinds: text('dm_kinds').notNull().default('assigned'),
    dmChannelId: text('dm_channel_id'),
    dmsClosedAt: bigint('dms_closed_at', { mode: 'number' }),
    notice: text('notice'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
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
export const routes = pgTable(
  'routes',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    channelId: text('channel_id').notNull(),
    /** The route filter as JSON (see src/routing/filter.ts); `{}` lets everything through. */
    filter: text('filter').notNull().default('{}'),
    /** A role mentioned in the message for events at or above `pingLevel`. */
    pingRoleId: text('ping_role_id'),
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
    triageRoleId: text('triage_role_id'),
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
    digestWhenEmpty: boolean('digest_when_empty').notNull().default(false),
    /** When the quiet hours and the digest were last set (see the SQLite schema). */
    quietSince: bigint('quiet_since', { mode: 'number' }),
    digestSince: bigint('digest_since', { mode: 'number' }),
    createdBy: text('created_by').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
    removedAt: bigint('removed_at', { mode: 'number' }),
    /** `channel`, or `dm`: one member's direct messages (see the SQLite schema). */
    kind: text('kind', { enum: ['channel', 'dm'] })
      .notNull()
      .default('channel'),
    memberLinkId: integer('member_link_id').references(() => memberLinks.id, { onDelete: 'set null' }),
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
export const events = pgTable(
  'events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    id: text('id').notNull().unique(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    eventType: text('event_type').notNull(),
    /** SHA-256 of the raw body: the same bytes to the same source within the dedupe window are one event. */
    bodyHash: text('body_hash').notNull(),
    /** Still the event identical bytes are matched against; cleared once the dedupe window has passed. */
    deduped: boolean('deduped').notNull().default(true),
    /** Identical bodies received again within the window (answered with this event's id, not posted). */
    duplicates: integer('duplicates').notNull().default(0),
    lastDuplicateAt: bigint('last_duplicate_at', { mode: 'number' }),
    body: text('body').notNull(),
    /** When it was stored: rises with `seq` (see schema.ts). */
    receivedAt: bigint('received_at', { mode: 'number' }).notNull(),
    /** When it reached Dispatch, when that was before it was stored (spooled); null: when stored. */
    arrivedAt: bigint('arrived_at', { mode: 'number' }),
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

/** One event on its way to one route: the delivery job (see the SQLite schema and src/db/delivery-state/). */
export const deliveries = pgTable(
  'deliveries',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    eventSeq: bigint('event_seq', { mode: 'number' })
      .notNull()
      .references(() => events.seq, { onDelete: 'cascade' }),
    routeId: integer('route_id')
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    channelId: text('channel_id').notNull(),
    cardKey: text('card_key'),
    status: text('status', { enum: ['pending', 'sending', 'quiet', 'delivered', 'collapsed', 'digested', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: bigint('next_attempt_at', { mode: 'number' }).notNull(),
    batchId: text('batch_id'),
    solo: boolean('solo').notNull().default(false),
    muted: boolean('muted').notNull().default(false),
    summary: boolean('summary').notNull().default(false),
    renderFallback: integer('render_fallback').notNull().default(0),
    lastError: text('last_error'),
    deliveredAt: bigint('delivered_at', { mode: 'number' }),
    messageId: text('message_id'),
    digestId: integer('digest_id'),
  },
  (t) => [
    index('deliveries_queue').on(t.status, t.routeId, t.seq),
    index('deliveries_sending')
      .on(t.channelId, t.batchId)
      .where(sql`${t.status} = 'sending'`),
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
export const cards = pgTable(
  'cards',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    routeId: integer('route_id')
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    cardKey: text('card_key').notNull(),
    channelId: text('channel_id').notNull(),
    messageId: text('message_id').notNull(),
    /** Where its embed sits in its message; several new cards of a burst share one message. */
    position: integer('position').notNull().default(0),
    /** The message holds other cards too: it is edited by sending all of their embeds, and has no thread. */
    shared: boolean('shared').notNull().default(false),
    /** The thread of its history (its id is the id of the message it was started from). */
    threadId: text('thread_id'),
    /** The card's state (src/cards/state.ts), as JSON. */
    state: text('state').notNull(),
    /** When its message was posted (a card older than CARD_BUMP_AFTER is posted again when it needs eyes). */
    postedAt: bigint('posted_at', { mode: 'number' }).notNull(),
    lastEditAt: bigint('last_edit_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
    /** Set while resolved: a resolved card quiet for EVENT_RETENTION is pruned. */
    resolvedAt: bigint('resolved_at', { mode: 'number' }),
  },
  (t) => [uniqueIndex('cards_route_key').on(t.routeId, t.cardKey), index('cards_message').on(t.messageId)],
);

/**
 * A message that shows cards, as last sent: an edit changes one card's embed and sends them all
 * again (Discord replaces a message's embeds as a whole). A card that moved down leaves a pointer.
 */
export const cardMessages = pgTable('card_messages', {
  messageId: text('message_id').primaryKey(),
  channelId: text('channel_id').notNull(),
  /** Its embeds as JSON, a card's at the card's `position` (or a pointer where a card moved down). */
  embeds: text('embeds').notNull(),
  content: text('content'),
  /** Its buttons or menu as JSON, as last sent (a shared message keeps its menu of issues). */
  components: text('components').notNull().default('[]'),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
});

/** Which delivery tells a member of a Sentry change (see the SQLite schema). */
export const dmSent = pgTable(
  'dm_sent',
  {
    dmKey: text('dm_key').primaryKey(),
    receivedAt: bigint('received_at', { mode: 'number' }).notNull(),
    deliverySeq: bigint('delivery_seq', { mode: 'number' }).notNull(),
  },
  (t) => [index('dm_sent_received_at').on(t.receivedAt)],
);

/**
 * A channel Discord refused for a reason a person can fix (missing access or permissions, unknown
 * channel, a rejected token). Its events wait instead of failing; the worker probes it again.
 */
export const holds = pgTable('holds', {
  channelId: text('channel_id').primaryKey(),
  guildId: text('guild_id').notNull(),
  /** Discord's error code (50001, 50013, 10003) or HTTP status (401). */
  code: integer('code').notNull(),
  reason: text('reason').notNull(),
  since: bigint('since', { mode: 'number' }).notNull(),
  /** When the worker next sends one request to see whether it was fixed. */
  nextProbeAt: bigint('next_probe_at', { mode: 'number' }).notNull(),
});

/** A custom message template of a source, for an event type (`issue.created`), a resource (`issue.*`) or all (`*`). */
export const templates = pgTable(
  'templates',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    /** A route's own template; null for the source's, which apply to routes without their own. */
    routeId: integer('route_id').references(() => routes.id, { onDelete: 'cascade' }),
    eventPattern: text('event_pattern').notNull(),
    /** The template JSON exactly as the admin pasted it. */
    body: text('body').notNull(),
    updatedBy: text('updated_by').notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
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
export const alertPingRoles = pgTable(
  'alert_ping_roles',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    sourceId: integer('source_id')
      .notNull()
      .references(() => sources.id, { onDelete: 'cascade' }),
    roleId: text('role_id').notNull(),
    acceptedAt: bigint('accepted_at', { mode: 'number' }).notNull(),
  },
  (t) => [uniqueIndex('alert_ping_roles_source_role').on(t.sourceId, t.roleId)],
);

/** A digest of a route (see the SQLite schema for what each column means). */
export const digests = pgTable(
  'digests',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    routeId: integer('route_id')
      .notNull()
      .references(() => routes.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['quiet', 'leftover', 'scheduled', 'now'] }).notNull(),
    periodStart: bigint('period_start', { mode: 'number' }).notNull(),
    periodEnd: bigint('period_end', { mode: 'number' }).notNull(),
    events: integer('events').notNull().default(0),
    eventId: text('event_id'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    doneAt: bigint('done_at', { mode: 'number' }),
    attempts: integer('attempts').notNull().default(0),
  },
  (t) => [uniqueIndex('digests_route_kind_end').on(t.routeId, t.kind, t.periodEnd)],
);

/** Facts about the database itself (see the SQLite schema). */
export const settings = pgTable('settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
});
