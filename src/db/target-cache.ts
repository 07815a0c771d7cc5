import type { Database } from './database.js';

/**
 * The webhook route looks a source up on every request, so lookups are cached. A source's target
 * changes only through the writes in sources.ts and routes.ts, which call `targetsChanged()`;
 * entries also expire after TTL_MS, for changes another process makes on the same database.
 * Unknown slugs are not cached (anyone can send those).
 *
 * An entry past its time is still the last good read of that slug: while the database is away,
 * the webhook route takes it (`lastReadTarget`) to accept events into the spool (src/spool), beside
 * a standby copy of every live source's target that each replica reads at start and keeps fresh.
 */
const TTL_MS = 1000;
const MAX_ENTRIES = 1000;
let generation = 0;
const caches = new WeakMap<Database, Map<string, { value: unknown; generation: number; at: number }>>();
/**
 * Every live source's target as read at `at` (src/spool/known-targets.ts, with Postgres): what a
 * replica goes on while the database is away for a source it has not read itself, or read before
 * this. A slug found gone since is taken out.
 */
const standby = new WeakMap<Database, { at: number; targets: Map<string, unknown>; complete: boolean }>();
const changeListeners = new Set<() => void>();

/** A source, its secret, its state or its routes changed: cached webhook targets are stale. */
export function targetsChanged(): void {
  generation += 1;
  for (const listener of changeListeners) listener();
}

/** Called at each `targetsChanged` (the standby copy reads the sources again soon); returns how to stop. */
export function onTargetsChanged(listener: () => void): () => void {
  changeListeners.add(listener);
  return () => changeListeners.delete(listener);
}

/**
 * Every live source's target, read (all pages) from `at` on: the standby copy for `lastReadTarget`.
 * Not `complete` (more live sources than a replica keeps): a slug missing from it says nothing.
 */
export function rememberLiveTargets<T>(db: Database, targets: Map<string, T>, at: number, complete = true): void {
  standby.set(db, { at, targets, complete });
}

/** The time now on the clock both copies are stamped with. */
export const readClock = (): number => performance.now();

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
  if (hit && hit.generation === generation && readClock() - hit.at < TTL_MS) return hit.value as T;
  const readAt = generation;
  const readFrom = readClock();
  const value = await read(db, slug);
  if (value === undefined) {
    cache.delete(slug);
    // Gone (deleted, or no route left): not taken from the standby copy either.
    standby.get(db)?.targets.delete(slug);
    return undefined;
  }
  // The oldest read goes first (a Map keeps insertion order), so the others stay as last good reads.
  cache.delete(slug);
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(slug, { value, generation: readAt, at: readFrom });
  return value;
}

/**
 * The last good read of a slug, however old: what the replica knows of a source while the database
 * is away. Its own read of the slug, or the standby copy of every live source when that was read
 * later (a source deleted or disabled since its own read is then known as such).
 */
export function lastReadTarget<T>(db: Database, slug: string): T | undefined {
  const hit = caches.get(db)?.get(slug);
  const all = standby.get(db);
  // A copy cut short at its cap knows nothing of the slugs past it: this replica's own read stands.
  if (all && (!hit || all.at >= hit.at) && (all.complete || all.targets.has(slug))) return all.targets.get(slug) as T | undefined;
  return hit?.value as T | undefined;
}
