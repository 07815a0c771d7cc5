import type { Database } from '../db/database.js';
import { markFailed } from '../db/deliveries.js';
import type { QueuedJob } from '../db/queue.js';
import type { ChannelId, DeliverySeq } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Clock } from './clock.js';

/** A channel's head that fails to be planned this many times in a row is set aside (failed, with the reason). */
const MAX_PLAN_FAILURES = 5;

/**
 * A head that cannot even be planned, again and again (a bug meeting one event), would hold its
 * channel forever: after a few tries it is failed, with the reason, so the channel goes on. It
 * stays in `source log`, and `/dispatch source retry` queues it again.
 */
export class StuckHeads {
  /** Consecutive failures to plan a channel's head, by channel. */
  private readonly failures = new Map<ChannelId, { seq: DeliverySeq; count: number }>();

  constructor(private readonly deps: { db: Database; logger: Logger; metrics: Metrics; clock: Clock }) {}

  /** The channel was planned: whatever failed before is forgotten. */
  planned(channelId: ChannelId): void {
    this.failures.delete(channelId);
  }

  /** Planning the channel whose head this is failed: one more strike, and the head is set aside at the last. */
  async failed(head: QueuedJob, error: unknown): Promise<void> {
    const strikes = this.failures.get(head.channelId);
    const count = strikes?.seq === head.seq ? strikes.count + 1 : 1;
    this.failures.set(head.channelId, { seq: head.seq, count });
    if (count < MAX_PLAN_FAILURES) return;
    this.failures.delete(head.channelId);
    const why = error instanceof Error ? error.message : String(error);
    const reason = `Dispatch could not prepare this event for Discord (${why}); set aside so that the channel goes on`;
    try {
      await markFailed(this.deps.db, [head], reason.slice(0, 500), this.deps.clock.now());
      this.deps.metrics.deliveries.inc({ outcome: 'failed' }, 1);
      this.deps.logger.error({ channel_id: head.channelId, event_id: head.eventId, source_id: head.sourceId }, reason);
    } catch (markError) {
      this.deps.logger.error({ err: markError, channel_id: head.channelId }, 'could not set a stuck event aside');
    }
  }
}
