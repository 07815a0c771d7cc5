import type { Database } from './database.js';
import { acceptEvents, type AcceptedEvent, type IncomingEvent } from './events.js';

export type WriteEvent = (input: IncomingEvent) => Promise<AcceptedEvent>;

type Waiting = { input: IncomingEvent; resolve: (e: AcceptedEvent) => void; reject: (error: unknown) => void };

/**
 * Group commit for the webhook route. Every webhook must be committed before its 202, and the
 * commit is most of a webhook's cost; requests whose bodies arrive in the same turn of the event
 * loop are therefore written in one transaction (at setImmediate, right after the I/O phase), and
 * each promise resolves only once that transaction has committed.
 *
 * One request's failure is its own: it is undone alone inside the group, then tried once more in
 * a transaction of its own, and only its promise rejects. If the whole transaction fails (the
 * database is gone), each request is tried alone too, so none depends on another's fate.
 */
export function createEventWriter(db: Database, now: () => number, dedupeWindowMs: number): WriteEvent {
  let queued: Waiting[] = [];

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
      if (queued.length === 0) setImmediate(() => void flush());
      queued.push({ input, resolve, reject });
    });
}
