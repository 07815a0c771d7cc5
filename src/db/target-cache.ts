import type { Database } from './database.js';

/**
 * The webhook route looks a source up on every request, so lookups are cached. A source's target
 * changes only through the writes in sources.ts and routes.ts, which call `targetsChanged()`;
 * entries also expire after TTL_MS, for changes another process makes on the same database.
 * Unknown slugs are not cached (anyone can send those).
 *
 * An entry past its time is still the last good read of that slug: while the database is away,
 * the webhook route takes it (`lastReadTarget`) to accept events into the spool (src/spool).
 */
const TTL_MS = 1000;
const MAX_ENTRIES = 1000;
let generation = 0;
const caches = new WeakMap<Database, Map<string, { value: unknown; generation: number; at: number }>>();

/** A source, its secret, its state or its routes changed: cached webhook targets are stale. */
export function targetsChanged(): void {
  generation += 1;
}

/** The cached target of one slug is stale (a write to it failed as if a route or the source were gone): read it afresh next time. */
export function forgetTarget(db: Database, slug: string): void {
  caches.get(db)?.delete(slug);
}

export async function cachedTarget<T>(
  db: Database,
  slug: string,
  read: (db: Database, slug: string) => Promise<T | undefined>,
): Promise<T | undefined> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  const hit = cache.get(slug);
  if (hit && hit.generation === generation && performance.now() - hit.at < TTL_MS) return hit.value as T;
  const readAt = generation;
  const value = await read(db, slug);
  if (value === undefined) {
    cache.delete(slug);
    return undefined;
  }
  // The oldest read goes first (a Map keeps insertion order), so the others stay as last good reads.
  cache.delete(slug);
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(slug, { value, generation: readAt, at: performance.now() });
  return value;
}

/** The last good read of a slug, however old: what the replica knows of a source while the database is away. */
export function lastReadTarget<T>(db: Database, slug: string): T | undefined {
  return caches.get(db)?.get(slug)?.value as T | undefined;
}
