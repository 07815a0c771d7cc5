import type { Database } from './database.js';
import { acceptEvents, type AcceptedEvent, type IncomingEvent } from './events.js';

export type WriteEvent = (input: IncomingEvent) => Promise<AcceptedEvent>;

/**
 * Group commit for the webhook route. Every webhook must be committed before its 202, and the
 * commit is most of a webhook's cost; requests whose bodies arrive in the same turn of the event
 * loop are therefore written in one transaction (at setImmediate, right after the I/O phase), and
 * each promise resolves only once that transaction has committed. A failed transaction rejects
 * them all and leaves nothing behind.
 */
export function createEventWriter(db: Database, now: () => number): WriteEvent {
  let queued: { input: IncomingEvent; resolve: (e: AcceptedEvent) => void; reject: (error: unknown) => void }[] = [];

  const flush = async () => {
    const batch = queued;
    queued = [];
    try {
      const results = await acceptEvents(
        db,
        batch.map((q) => q.input),
        now(),
      );
      batch.forEach((q, i) => q.resolve(results[i]!));
    } catch (error) {
      for (const q of batch) q.reject(error);
    }
  };

  return (input) =>
    new Promise((resolve, reject) => {
      if (queued.length === 0) setImmediate(() => void flush());
      queued.push({ input, resolve, reject });
    });
}
