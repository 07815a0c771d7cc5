import type { Database } from './database.js';
import { acceptEvents, type AcceptedEvent, type IncomingEvent } from './events.js';

export type WriteEvent = (input: IncomingEvent) => Promise<AcceptedEvent>;

/** An event kept in this replica's spool while the database is away (src/spool): it is stored when drained. */
export interface SpooledEvent {
  spooled: true;
  /** The same bytes are already in the spool for this source: nothing new was kept. */
  duplicate: boolean;
}

/** The webhook route's write: the event stored, or spooled; `slug` is how the spool's drain finds its source again. */
export type AcceptWebhook = (input: IncomingEvent, slug: string) => Promise<AcceptedEvent | SpooledEvent>;

type Waiting = { input: IncomingEvent; resolve: (e: AcceptedEvent) => void; reject: (error: unknown) => void };

/**
 * Group commit for the webhook route. Every webhook must be committed before its 202, and the
 * commit is most of a webhook's cost; requests whose bodies arrive in the same turn of the event
 * loop are therefore written in one transaction (at setImmediate, right after the I/O phase), and
 * each promise resolves only once that transaction has committed.
 *
 * While a group is being committed, the next one gathers (at most GROUPS_IN_FLIGHT commit at once):
 * with SQLite a commit ends within its turn, so nothing changes; with Postgres a commit takes
 * round trips, and requests arriving meanwhile share the next commit instead of each taking one.
 *
 * One request's failure is its own: it is undone alone inside the group, then tried once more in
 * a transaction of its own, and only its promise rejects. If the whole transaction fails (the
 * database is gone), each request is tried alone too, so none depends on another's fate.
 */
const GROUPS_IN_FLIGHT = 2;

export function createEventWriter(db: Database, now: () => number, dedupeWindowMs: number): WriteEvent {
  let queued: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;
  const schedule = () => {
    if (scheduled || inFlight >= GROUPS_IN_FLIGHT || queued.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      inFlight += 1;
      void flush().finally(() => {
        inFlight -= 1;
        schedule();
      });
    });
  };

  const alone = async (waiting: Waiting) => {
    try {
      const [result] = await acceptEvents(db, [waiting.input], now(), dedupeWindowMs);
      if (result!.ok) waiting.resolve(result!.value);
      else waiting.reject(result!.error);
    } catch (error) {
      waiting.reject(error);
    }
  };

  const flush = async () => {
    const group = queued;
    queued = [];
    let results;
    try {
      results = await acceptEvents(
        db,
        group.map((q) => q.input),
        now(),
        dedupeWindowMs,
      );
    } catch {
      await Promise.all(group.map(alone));
      return;
    }
    await Promise.all(
      group.map((waiting, i) => {
        const result = results[i]!;
        if (result.ok) return waiting.resolve(result.value);
        return alone(waiting);
      }),
    );
  };

  return (input) =>
    new Promise((resolve, reject) => {
      queued.push({ input, resolve, reject });
      schedule();
    });
}
