import { randomBytes } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { sources, type Source } from './schema.js';

import { UserError } from '../user-error.js';

/** A problem with a source the user named; its message is safe to show in Discord. */
export class SourceError extends UserError {}

/** Source names are shown in Discord, so they are kept to characters that cannot mention or format. */
export const SOURCE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const SOURCE_NAME_MAX = 32;

export function normalizeSourceName(raw: string): string {
  const name = raw.trim().toLowerCase();
  if (!SOURCE_NAME_PATTERN.test(name)) {
    throw new SourceError(
      `A source name is 1 to ${SOURCE_NAME_MAX} characters: lowercase letters, digits, "-" and "_", starting with a letter or digit.`,
    );
  }
  return name;
}

/** 24 random bytes = 192 bits, URL-safe. */
export function newSlug(): string {
  return randomBytes(24).toString('base64url');
}

export interface NewSource {
  guildId: string;
  channelId: string;
  name: string;
  signingSecret: string | null;
  createdBy: string;
}

export function createSource(db: Db, input: NewSource, now = Date.now()): Source {
  const name = normalizeSourceName(input.name);
  try {
    return db
      .insert(sources)
      .values({ ...input, name, slug: newSlug(), createdAt: now, updatedAt: now })
      .returning()
      .get();
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(name); // lost a race with another create
    throw error;
  }
}

const nameTaken = (name: string) => new SourceError(`A source named "${name}" already exists in this server.`);

/** For checks before the create itself (so the modal is not shown for a name already used). */
export function assertSourceNameFree(db: Db, guildId: string, name: string): void {
  if (findSource(db, guildId, name)) throw nameTaken(name);
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** What the webhook route needs of a source, on every request: prepared once, five columns. */
export type WebhookTarget = Pick<Source, 'id' | 'guildId' | 'channelId' | 'enabled' | 'signingSecret'>;

export function findWebhookTarget(db: Db, slug: string): WebhookTarget | undefined {
  return prepared(db, 'webhookTarget', () =>
    db
      .select({
        id: sources.id,
        guildId: sources.guildId,
        channelId: sources.channelId,
        enabled: sources.enabled,
        signingSecret: sources.signingSecret,
      })
      .from(sources)
      .where(eq(sources.slug, sql.placeholder('slug')))
      .prepare(),
  ).get({ slug });
}

/** The guild a source belongs to, for log lines (prepared: the worker asks on every delivery). */
export function guildOfSource(db: Db, sourceId: number): string | undefined {
  return prepared(db, 'guildOfSource', () =>
    db
      .select({ guildId: sources.guildId })
      .from(sources)
      .where(eq(sources.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id: sourceId })?.guildId;
}

/** By id, but only within `guildId`: ids come back from Discord components and are not trusted. */
export function findSourceById(db: Db, guildId: string, id: number): Source | undefined {
  if (!Number.isSafeInteger(id)) return undefined;
  return db
    .select()
    .from(sources)
    .where(and(eq(sources.id, id), eq(sources.guildId, guildId)))
    .get();
}

export function findSource(db: Db, guildId: string, name: string): Source | undefined {
  return db
    .select()
    .from(sources)
    .where(and(eq(sources.guildId, guildId), eq(sources.name, name.trim().toLowerCase())))
    .get();
}

/** Like findSource, for commands: an unknown name is the user's error. */
export function getSource(db: Db, guildId: string, name: string): Source {
  const source = findSource(db, guildId, name);
  if (!source) throw new SourceError(`No source named "${displayName(name)}" in this server.`);
  return source;
}

export function listSources(db: Db, guildId: string): Source[] {
  return db.select().from(sources).where(eq(sources.guildId, guildId)).orderBy(asc(sources.name)).all();
}

export function searchSourceNames(db: Db, guildId: string, prefix: string, limit = 25): string[] {
  const escaped = prefix
    .trim()
    .toLowerCase()
    .replace(/[\\%_]/g, (c) => `\\${c}`);
  return db
    .select({ name: sources.name })
    .from(sources)
    .where(and(eq(sources.guildId, guildId), sql`${sources.name} like ${`${escaped}%`} escape '\\'`))
    .orderBy(asc(sources.name))
    .limit(limit)
    .all()
    .map((r) => r.name);
}

function updateSource(db: Db, source: Source, values: Partial<Source>, now: number): Source {
  return db
    .update(sources)
    .set({ ...values, updatedAt: now })
    .where(and(eq(sources.id, source.id), eq(sources.guildId, source.guildId)))
    .returning()
    .get()!;
}

export function setSourceEnabled(db: Db, source: Source, enabled: boolean, now = Date.now()): Source {
  return updateSource(db, source, { enabled, ...(enabled ? { permanentFailureStreak: 0 } : {}) }, now);
}

export function setSourceSecret(db: Db, source: Source, signingSecret: string | null, now = Date.now()): Source {
  return updateSource(db, source, { signingSecret }, now);
}

/** Deletes the source; its events go with it (foreign key cascade). */
export function deleteSource(db: Db, source: Source): void {
  db.delete(sources)
    .where(and(eq(sources.id, source.id), eq(sources.guildId, source.guildId)))
    .run();
}

/** For display only: user-typed text echoed back must not mention or format. */
export function displayName(text: string): string {
  return text.replace(/[^a-zA-Z0-9 _.-]/g, '').slice(0, SOURCE_NAME_MAX) || '?';
}
