import type { Database } from './database.js';

/**
 * The webhook route looks a source up on every request, so lookups are cached. A source's target
 * changes only through the writes in sources.ts and routes.ts, which call `targetsChanged()`;
 * entries also expire after TTL_MS, for changes another process makes on the same database.
 * Unknown slugs are not cached (anyone can send those).
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
  if (value === undefined) return undefined;
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(slug, { value, generation: readAt, at: performance.now() });
  return value;
}
