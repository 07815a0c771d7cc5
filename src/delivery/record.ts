import { isForeignKeyViolation, type Database } from '../db/database.js';
import { DM_CLAIM_WAIT_MS } from '../people/dm-once.js';
import {
  markDelivered,
  markFailed,
  markHeld,
  markRetry,
  markToldElsewhere,
  markWaitingForClaimer,
  redrawWith,
  splitBatch,
  splitSummary,
  wakeRetries,
  type Blame,
} from '../db/deliveries.js';
import { deferProbe, holdChannel, liftHold } from '../db/holds.js';
import type { QueuedJob } from '../db/queue.js';
import { guildsOfSources } from '../db/sources.js';
import { recordTemplateError } from '../db/templates.js';
import type { GuildId, MessageId, SourceId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { describeTemplateFailure } from '../render/render-event.js';
import type { CardUpdatePlan } from './card-plan.js';
import { classifyFailure } from './classify-error.js';
import { MEMBER_UNREACHABLE } from './discord-codes.js';
import { sleepOn, type Clock } from './clock.js';
import type { SendPlan } from './plan.js';
import { afterFailure, countsAsOutage, nextAttemptAt, RECOVERY, type AfterFailure, type RetrySettings } from './policy.js';
import { newNonce } from './sender.js';

/** A send that was tried: a message, or a card's edit. */
export type Attempt = SendPlan | CardUpdatePlan;

/** What /healthz reports of delivery. */
export interface DeliveryHealth {
  /** Discord is failing transiently: sends are paced to probes. */
  outage: boolean;
  /** Messages were sent but recording them in the database keeps failing. */
  recordingFailing: boolean;
}

/** What the worker and the recorder share: Discord's health, and whether recording works. */
export interface DeliveryState {
  /** Set while Discord fails transiently (sends are then paced to probes); cleared by the next success. */
  transientFailureAt: number | undefined;
  /** Messages were sent but recording them in the database keeps failing. */
  recordingFailing: boolean;
  /** The worker is stopping: database writes are no longer retried. */
  stopped: boolean;
}

export interface RecorderDeps {
  db: Database;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  retry: RetrySettings;
}

/**
 * Records what became of a send, with the delivery policy's decisions carried out: delivered
 * (and what that ends: an outage, a hold), or failed (held, retried, split, drawn again, given
 * up). Every write goes through `persist`.
 */
export class Recorder {
  constructor(
    private readonly deps: RecorderDeps,
    private readonly state: DeliveryState,
  ) {}

  /** Discord took the message (or the card's edit): record it, with what else the send changed, in one transaction. */
  async delivered(attempt: Attempt, messageId: MessageId, started: number, alsoRecord?: (tx: Database) => Promise<void>): Promise<void> {
    const { db, clock } = this.deps;
    const at = clock.now();
    const summaries = attempt.kind === 'send' && attempt.summary ? attempt.embeds.length : undefined;
    await this.persist(() => markDelivered(db, attempt.batch, messageId, at, { summaries, alsoRecord }));
    const log = this.deps.logger.child({ channel_id: attempt.channelId, batch_id: attempt.batchId });
    await this.afterSuccess(attempt, at, log);
    const guilds = (await this.persist(() => guildsOfSources(db, [...new Set(attempt.batch.map((e) => e.sourceId))]))) ?? new Map();
    if (summaries !== undefined) {
      this.deps.metrics.deliveries.inc({ outcome: 'collapsed' }, attempt.batch.length);
      const sourceId = attempt.batch[0]!.sourceId;
      log.info(
        { source_id: sourceId, guild_id: guilds.get(sourceId), collapsed: attempt.batch.length, message_id: messageId },
        'flood summary delivered',
      );
      return;
    }
    this.countDelivered(attempt.batch, messageId, at, started, guilds, log);
    if (attempt.kind === 'send') await this.templateFailures(attempt, at, guilds, log);
  }

  /** A member's DM not sent: another source's copy of its Sentry change claimed it first (src/people/dm-once.ts). */
  async toldElsewhere(attempt: Attempt): Promise<void> {
    const { db, clock, metrics } = this.deps;
    await this.persist(() => markToldElsewhere(db, attempt.batch, clock.now()));
    metrics.deliveries.inc({ outcome: 'collapsed' }, attempt.batch.length);
    this.deps.logger.info(
      { channel_id: attempt.channelId, batch_id: attempt.batchId, event_ids: attempt.batch.map((e) => e.eventId), outcome: 'collapsed' },
      'a direct message another copy of the same Sentry change tells: not sent',
    );
  }

  /** A member's DM whose Sentry change another copy claimed and is still sending: it looks again shortly. */
  async waitForClaimer(attempt: Attempt): Promise<void> {
    const { db, clock } = this.deps;
    await this.persist(() => markWaitingForClaimer(db, attempt.batch, clock.now() + DM_CLAIM_WAIT_MS));
  }

  /** A step of the send failed: what the policy says to do with its events, carried out. */
  async failed(attempt: Attempt, error: unknown): Promise<void> {
    const { db, metrics, clock } = this.deps;
    const now = clock.now();
    const log = this.deps.logger.child({ channel_id: attempt.channelId, batch_id: attempt.batchId });
    const failure = classifyFailure(error);
    const { batch } = attempt;
    if (batch.length === 0) return;
    // A summary's batch holds thousands: the log names the first few.
    const fields = { event_ids: batch.slice(0, 20).map((e) => e.eventId), source_id: batch[0]!.sourceId, reason: failure.reason };
    const parts = attempt.kind === 'send' ? attempt.parts : [];
    // A member's DM: what fails is theirs (their DMs closed, their account gone), not the source's.
    const guard = attempt.kind === 'send' ? attempt.guard : undefined;
    const blame: Blame = guard ? 'member' : 'source';
    const failed = guard ? 'dm_failed' : 'failed';
    const decision =
      attempt.kind === 'card-update' && failure.kind === 'invalid'
        ? cardRefused(attempt)
        : guard && failure.code !== undefined && MEMBER_UNREACHABLE.has(failure.code)
          ? ({ action: 'fail' } as const)
          : afterFailure(
              failure,
              batch,
              parts.map((p) => p.drawing),
            );
    if (failure.kind === 'internal')
      log.error({ ...fields, err: error }, 'a delivery step failed in Dispatch itself; it will be tried again');
    if (countsAsOutage(failure)) this.state.transientFailureAt = now;
    const probing = 'probing' in attempt ? attempt.probing : undefined;
    await this.persist(async () => {
      switch (decision.action) {
        case 'hold': {
          const guildId = (await guildsOfSources(db, [batch[0]!.sourceId])).get(batch[0]!.sourceId) ?? ('' as GuildId);
          const hold = { channelId: attempt.channelId, guildId, code: failure.code ?? 0, reason: failure.reason };
          await holdChannel(db, hold, now, now + RECOVERY.holdProbeIntervalMs);
          await markHeld(db, batch, failure.reason, now);
          metrics.deliveries.inc({ outcome: 'held' }, batch.length);
          log.warn(
            { ...fields, outcome: 'held' },
            'Discord refused for a reason a person can fix: the channel is on hold, its events wait',
          );
          return;
        }
        case 'retry': {
          const { gaveUp } = await markRetry(db, batch, failure.reason, (e) => nextAttemptAt(e, now, this.deps.retry), now, blame);
          if (probing)
            await deferProbe(db, attempt.channelId, nextAttemptAt(batch[0]!, now, this.deps.retry) ?? now + RECOVERY.holdProbeIntervalMs);
          metrics.deliveries.inc({ outcome: 'retry' }, batch.length - gaveUp);
          if (gaveUp > 0) metrics.deliveries.inc({ outcome: failed }, gaveUp);
          log.warn(
            { ...fields, outcome: gaveUp > 0 ? 'failed' : 'retry' },
            gaveUp > 0 ? 'delivery failed until its deadline: given up' : 'delivery failed; will retry',
          );
          return;
        }
        case 'split':
          log.warn(fields, 'Discord refused a batch; sending its events one by one');
          return splitBatch(db, batch);
        case 'split-summary':
          log.warn(fields, 'Discord refused a flood summary; sending one summary per event type');
          return splitSummary(db, batch, newNonce);
        case 'redraw':
          return this.redraw(attempt, batch, failure.reason, decision.renderFallback, now, log, fields);
        case 'fail':
          await markFailed(db, batch, failure.reason, now, blame);
          metrics.deliveries.inc({ outcome: failed }, batch.length);
          if (guard) {
            log.info({ ...fields, outcome: failed }, 'a direct message could not reach its member: not sent, the source is not blamed');
            await guard.refused(failure);
          } else log.error({ ...fields, outcome: 'failed' }, 'delivery failed for good');
      }
    });
  }

  private async redraw(
    attempt: Attempt,
    batch: QueuedJob[],
    reason: string,
    renderFallback: number,
    now: number,
    log: Logger,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const { db } = this.deps;
    const pattern = attempt.kind === 'send' ? attempt.parts[0]?.templatePattern : attempt.template?.pattern;
    if (pattern !== undefined) {
      // The template made a message Discord would not take: record it as the template's failure.
      await recordTemplateError(
        db,
        batch[0]!.sourceId,
        describeTemplateFailure({ pattern, kind: 'refused by Discord', message: reason }),
        now,
      );
    }
    await redrawWith(db, batch, renderFallback);
    this.deps.metrics.deliveries.inc({ outcome: 'redrawn' }, batch.length);
    log.warn({ ...fields, render_fallback: renderFallback }, 'Discord refused how the event was drawn; sending it more plainly');
  }

  /** After any success: an outage is over (every retry is woken), a probed hold is lifted. */
  private async afterSuccess(attempt: Attempt, at: number, log: Logger): Promise<void> {
    const { db } = this.deps;
    if (this.state.transientFailureAt !== undefined) {
      this.state.transientFailureAt = undefined;
      log.info('Discord answers again: every waiting retry is due now');
      // In bounded steps, not holding this send's channel: a long backlog of retries wakes up behind it.
      void this.persist(() => wakeRetries(db, at)).then(
        (woken) => log.info({ woken }, 'waiting retries woken'),
        // Stopped mid-walk (the database closes behind it): what it did not wake goes at its own retry time.
        (error: unknown) => log.warn({ err: error }, 'stopped while waking waiting retries'),
      );
    }
    const probing = 'probing' in attempt ? attempt.probing : undefined;
    if (probing) {
      await this.persist(() => liftHold(db, attempt.channelId));
      log.info({ reason: probing.reason, held_since: probing.since }, 'the channel works again: hold lifted');
    }
  }

  /** Recorded once the event went out with the built-in embed instead of its template's. */
  private async templateFailures(plan: SendPlan, at: number, guilds: Map<SourceId, GuildId>, log: Logger): Promise<void> {
    for (const [i, event] of plan.batch.entries()) {
      const failure = plan.parts[i]?.templateFailure;
      if (!failure) continue;
      const reason = describeTemplateFailure(failure);
      await this.persist(() => recordTemplateError(this.deps.db, event.sourceId, reason, at));
      log.warn(
        { event_id: event.eventId, route_id: event.routeId, source_id: event.sourceId, guild_id: guilds.get(event.sourceId), reason },
        'custom template failed; posted the built-in embed',
      );
    }
  }

  private countDelivered(
    batch: readonly QueuedJob[],
    messageId: MessageId,
    at: number,
    started: number,
    guilds: Map<SourceId, GuildId>,
    log: Logger,
  ): void {
    this.deps.metrics.deliveries.inc({ outcome: 'delivered' }, batch.length);
    for (const job of batch) {
      this.deps.metrics.deliveryLatency.observe((at - job.receivedAt) / 1000);
      const about = {
        event_id: job.eventId,
        route_id: job.routeId,
        source_id: job.sourceId,
        guild_id: guilds.get(job.sourceId),
        event_type: job.eventType,
      };
      log.info({ ...about, outcome: 'delivered', message_id: messageId, ms: at - started }, 'event delivered');
    }
  }

  /**
   * Database writes after a send. If they fail, they are tried again with growing waits (never in
   * a hot loop) while the channel stays busy, so the message is not sent again meanwhile; /healthz
   * shows delivery as degraded until a write works again. A foreign key refusing the write means
   * what it records was deleted meanwhile (a source or route removed mid-send): nothing to record,
   * and trying again could never help. Resolves with undefined then.
   */
  async persist<T>(work: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await work();
        if (this.state.recordingFailing) {
          this.state.recordingFailing = false;
          this.deps.logger.info('recording deliveries works again');
        }
        return result;
      } catch (error) {
        if (isForeignKeyViolation(error)) {
          this.deps.logger.info({ err: error }, 'nothing to record: its source or route was removed meanwhile');
          return undefined;
        }
        if (this.state.stopped) throw error;
        this.state.recordingFailing = true;
        const wait = RECOVERY.recordBackoffMs[Math.min(attempt, RECOVERY.recordBackoffMs.length - 1)]!;
        this.deps.logger.error({ err: error, retry_in_ms: wait }, 'could not record a delivery in the database; trying again');
        await sleepOn(this.deps.clock, wait);
      }
    }
  }
}

/**
 * Discord refused a card edit as invalid. The card is drawn by Dispatch within every limit, so only
 * a template's embed can be at fault: the card is drawn without it. Otherwise no plainer drawing
 * would help.
 */
function cardRefused(plan: CardUpdatePlan): AfterFailure {
  return plan.template ? { action: 'redraw', renderFallback: 1 } : { action: 'fail' };
}
