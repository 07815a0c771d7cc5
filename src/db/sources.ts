import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { fromRow, isUniqueViolation, type Database } from './database.js';
import { createRoute, FIRST_ROUTE_NAME, WAITING_CAP, type Layout } from './routes.js';
import { cachedTarget, targetsChanged } from './target-cache.js';
import { sources, type Route, type Source } from './schema.js';
import { asSourceId, type ChannelId, type GuildId, type RouteId, type SourceId } from '../ids.js';
import { byNaturalOrder, NAME_CANDIDATES } from '../natural-order.js';
import { UserError } from '../user-error.js';

/** Source names are shown in Discord, so they are kept to characters that cannot mention or format. */
export const SOURCE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const SOURCE_NAME_MAX = 32;

/** A name is matched as typed, ignoring case and surrounding spaces. */
export function canonicalSourceName(raw: string): string {
  return raw.trim().toLowerCase();
}

/** The name is already used by another source of the same server. */
export class SourceNameTaken extends Error {
  constructor(readonly sourceName: string) {
    super(`source name ${sourceName} is taken`);
  }
}

/** Slugs are 24 random bytes in base64url; anything else cannot name a source. */
export const SLUG_PATTERN = /^[A-Za-z0-9_-]{32}$/;

/** 24 random bytes = 192 bits, URL-safe. */
function newSlug(): string {
  return randomBytes(24).toString('base64url');
}

export interface NewSource {
  guildId: GuildId;
  /** The channel of its first route… */
  channelId: ChannelId;
  /** …and its layout. */
  layout: Layout;
  /** Canonical and matching SOURCE_NAME_PATTERN: the caller checks what the user typed. */
  name: string;
  signingSecret: string | null;
  createdBy: string;
}

const toSource = (row: Record<string, unknown>): Source => fromRow(sources, row);

/** A deleted source is gone for every reader at once; its events are purged in the background (src/db/purge.ts). */
const LIVE = sql`deleted_at is null`;

/** A source and its first route (everything, to the given channel), in one transaction. */
export function createSource(db: Database, input: NewSource, now: number): Promise<{ source: Source; route: Route }> {
  return db.transaction(async (tx) => {
    let row;
    try {
      row = await tx.get(sql`
        insert into sources (guild_id, name, slug, signing_secret, created_by, created_at, updated_at)
        values (${input.guildId}, ${input.name}, ${newSlug()}, ${input.signingSecret}, ${input.createdBy}, ${now}, ${now})
        returning *`);
    } catch (error) {
      if (isUniqueViolation(error)) throw new SourceNameTaken(input.name); // lost a race with another create
      throw error;
    }
    const source = toSource(row!);
    const route = await createRoute(
      tx,
      {
        sourceId: source.id,
        name: FIRST_ROUTE_NAME,
        channelId: input.channelId,
        layout: input.layout,
        filter: '{}',
        pingRoleId: null,
        pingLevel: 'error',
        createdBy: input.createdBy,
      },
      now,
    );
    return { source, route };
  });
}

/** What the webhook route needs of a source and its routes, on every request: one query. */
export interface WebhookTarget {
  id: SourceId;
  guildId: GuildId;
  enabled: boolean;
  signingSecret: string | null;
  routes: WebhookRoute[];
}

/**
 * A route as the webhook needs it: what it takes. Where it posts and whether its quiet hours hold
 * an event are read when the delivery is written (delivery-state/), not from this copy, which
 * may be a second old.
 */
export interface WebhookRoute {
  id: RouteId;
  filter: string;
}

export function findWebhookTarget(db: Database, slug: string): Promise<WebhookTarget | undefined> {
  return cachedTarget(db, slug, readWebhookTarget);
}

type TargetRow = {
  id: SourceId;
  slug: string;
  guild_id: GuildId;
  enabled: unknown;
  signing_secret: string | null;
  route_id: RouteId;
  filter: string;
};

const TARGET_COLUMNS = sql`s.id, s.slug, s.guild_id, s.enabled, s.signing_secret, r.id as route_id, r.filter`;

/** One source's rows (one per channel route, in route order) as its target; none: it takes no webhook. */
function targetOf(rows: readonly TargetRow[]): WebhookTarget | undefined {
  const first = rows[0];
  if (!first) return undefined;
  return {
    id: Number(first.id) as SourceId,
    guildId: first.guild_id,
    enabled: Boolean(first.enabled),
    signingSecret: first.signing_secret,
    routes: rows.map((r) => ({ id: Number(r.route_id) as RouteId, filter: r.filter })),
  };
}

async function readWebhookTarget(db: Database, slug: string): Promise<WebhookTarget | undefined> {
  return targetOf(
    await db.all<TargetRow>(sql`
      select ${TARGET_COLUMNS} from sources s join routes r on r.source_id = s.id
      where s.slug = ${slug} and ${LIVE} and r.removed_at is null and r.kind = 'channel' order by r.id`),
  );
}

/** Sources per page of `liveWebhookTargets`. */
export const TARGETS_PAGE = 500;

/**
 * One page of every live source's webhook target, by slug: the sources after `afterId` in id order,
 * `limit` at most, in two bounded statements. `next` is where the next page starts, or undefined
 * after the last. What a replica keeps to take webhooks into its spool while Postgres is away
 * (src/spool/known-targets.ts).
 */
export async function liveWebhookTargets(
  db: Database,
  afterId: number,
  limit = TARGETS_PAGE,
): Promise<{ targets: Map<string, WebhookTarget>; next: number | undefined }> {
  const ids = (await db.all<{ id: number }>(sql`select id from sources where id > ${afterId} and ${LIVE} order by id limit ${limit}`)).map(
    (r) => Number(r.id),
  );
  const targets = new Map<string, WebhookTarget>();
  if (ids.length === 0) return { targets, next: undefined };
  const rows = await db.all<TargetRow>(sql`
    select ${TARGET_COLUMNS} from sources s join routes r on r.source_id = s.id
    where s.id in ${ids} and ${LIVE} and r.removed_at is null and r.kind = 'channel' order by s.id, r.id`);
  const bySlug = new Map<string, TargetRow[]>();
  for (const row of rows) bySlug.set(row.slug, [...(bySlug.get(row.slug) ?? []), row]);
  for (const [slug, of] of bySlug) targets.set(slug, targetOf(of)!);
  return { targets, next: ids.length < limit ? undefined : ids.at(-1) };
}

/** The guild of each source, for log lines. */
export async function guildsOfSources(db: Database, sourceIds: readonly SourceId[]): Promise<Map<SourceId, GuildId>> {
  if (sourceIds.length === 0) return new Map();
  const rows = await db.all<{ id: number; guild_id: GuildId }>(sql`select id, guild_id from sources where id in ${sourceIds}`);
  return new Map(rows.map((r) => [asSourceId(Number(r.id)), r.guild_id]));
}

/** By id, but only within `guildId`: ids come back from Discord components and are not trusted. */
export async function findSourceById(db: Database, guildId: GuildId, id: SourceId): Promise<Source | undefined> {
  const row = await db.get(sql`select * from sources where id = ${id} and guild_id = ${guildId} and ${LIVE}`);
  return row ? toSource(row) : undefined;
}

export async function findSource(db: Database, guildId: GuildId, name: string): Promise<Source | undefined> {
  const row = await db.get(sql`select * from sources where guild_id = ${guildId} and name = ${canonicalSourceName(name)} and ${LIVE}`);
  return row ? toSource(row) : undefined;
}

export async function listSources(db: Database, guildId: GuildId): Promise<Source[]> {
  const sources = (await db.all(sql`select * from sources where guild_id = ${guildId} and ${LIVE}`)).map(toSource);
  return sources.sort((a, b) => byNaturalOrder(a.name, b.name));
}

/**
 * Names starting with what was typed, in natural order; `_` and `%` are matched literally. Bounded
 * for autocomplete: at most NAME_CANDIDATES names are read (the first in code order, from the
 * unique index), then sorted as people count. Past that many matches the member narrows by typing.
 */
export async function searchSourceNames(db: Database, guildId: GuildId, prefix: string, limit = 25): Promise<string[]> {
  const typed = canonicalSourceName(prefix);
  const rows = await db.all<{ name: string }>(sql`
    select name from sources where guild_id = ${guildId} and substr(name, 1, ${typed.length}) = ${typed} and ${LIVE}
    order by name limit ${NAME_CANDIDATES}`);
  return rows
    .map((r) => r.name)
    .sort(byNaturalOrder)
    .slice(0, limit);
}

async function updateSource(db: Database, source: Source, assignments: ReturnType<typeof sql>, now: number): Promise<Source> {
  targetsChanged();
  const row = await db.get(
    sql`update sources set ${assignments}, updated_at = ${now} where id = ${source.id} and guild_id = ${source.guildId} and ${LIVE} returning *`,
  );
  if (!row) throw new UserError(`The source **${source.name}** was deleted meanwhile.`);
  return toSource(row);
}

/**
 * Disabling stops what the source has waiting from being sent (it stays, and the queue skips a
 * disabled source's routes); enabling lets it go, at once. One row: no delivery is rewritten, so
 * this costs the same whatever the backlog. Each route's digest restarts from now: a digest never
 * reaches back over the days a source was disabled (nor piles them up).
 */
export function setSourceEnabled(db: Database, source: Source, enabled: boolean, now: number): Promise<Source> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const updated = await updateSource(tx, source, sql`enabled = ${enabled}`, now);
    if (enabled && !source.enabled)
      await tx.run(sql`update routes set digest_since = ${now} where source_id = ${source.id} and digest_every is not null`);
    return updated;
  });
}

export function setSourceSecret(db: Database, source: Source, signingSecret: string | null, now: number): Promise<Source> {
  return updateSource(db, source, sql`signing_secret = ${signingSecret}`, now);
}

export function renameSource(db: Database, source: Source, name: string, now: number): Promise<Source> {
  return updateSource(db, source, sql`name = ${name}`, now).catch((error: unknown) => {
    throw isUniqueViolation(error) ? new SourceNameTaken(name) : error;
  });
}

/**
 * Deletes the source: gone at once for every command and webhook (its URL answers 404, its name is
 * free again), and what it stored — routes, events, deliveries, templates — is purged in bounded
 * steps in the background (src/db/purge.ts). Resolves with how many deliveries were still
 * waiting (up to `WAITING_CAP`), for the record (the log line).
 */
export function deleteSource(db: Database, source: Source, now: number): Promise<number> {
  targetsChanged();
  return db.transaction(async (tx) => {
    const waiting = await tx.get<{ n: number }>(sql`
      select count(*) as n from (select 1 from deliveries where status in ('pending', 'quiet')
        and route_id in (select id from routes where source_id = ${source.id}) limit ${WAITING_CAP}) as capped`);
    await tx.run(sql`update sources set deleted_at = ${now} where id = ${source.id} and guild_id = ${source.guildId} and ${LIVE}`);
    return Number(waiting!.n);
  });
}

/** Which of these sources have a Sentry API token (their cards show triage buttons). */
export async function sourcesConnected(db: Database, sourceIds: readonly SourceId[]): Promise<Set<number>> {
  if (sourceIds.length === 0) return new Set();
  const rows = await db.all<{ id: number }>(
    sql`select id from sources where id in ${[...new Set(sourceIds)]} and sentry_token is not null and ${LIVE}`,
  );
  return new Set(rows.map((r) => Number(r.id)));
}

/** What `/dispatch source connect` saves: a sealed token and where it works, or nothing (disconnect). */
export interface SentryConnection {
  token: string;
  baseUrl: string;
  org: string | null;
  identity: string;
}

export function setSentryConnection(db: Database, source: Source, connection: SentryConnection | null, now: number): Promise<Source> {
  return updateSource(
    db,
    source,
    connection
      ? sql`sentry_token = ${connection.token}, sentry_base_url = ${connection.baseUrl}, sentry_org = ${connection.org},
          sentry_identity = ${connection.identity}, sentry_problem = null`
      : sql`sentry_token = null, sentry_identity = null, sentry_problem = null`,
    now,
  );
}

/** Sentry refused the token at a click (revoked, missing a scope): `info` shows it until the next connect. */
export async function setSentryProblem(db: Database, sourceId: SourceId, problem: string | null): Promise<void> {
  await db.run(sql`update sources set sentry_problem = ${problem} where id = ${sourceId}`);
}

/** The Sentry URLs and organizations this server's sources are connected to (a few at most): what `/dispatch me connect` suggests. */
export async function sentryPlacesOf(db: Database, guildId: GuildId): Promise<{ baseUrl: string | null; org: string | null }[]> {
  const rows = await db.all<{ sentry_base_url: string | null; sentry_org: string | null }>(sql`
    select distinct sentry_base_url, sentry_org from sources where guild_id = ${guildId} and sentry_token is not null and ${LIVE} limit 5`);
  return rows.map((r) => ({ baseUrl: r.sentry_base_url, org: r.sentry_org }));
}
