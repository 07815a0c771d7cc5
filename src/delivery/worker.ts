import type { APIEmbed } from 'discord.js';
import type { Database } from '../db/database.js';
import {
  assignBatch,
  assignSummaryBatch,
  backlogOfSource,
  eventsInBatch,
  markDelivered,
  markPermanentFailure,
  markRetry,
  pendingForChannel,
  pendingHeads,
  pruneFinished,
  splitBatch,
  waitingByType,
} from '../db/events.js';
import type { EventRow } from '../db/schema.js';
import { guildsOfSources } from '../db/sources.js';
import { recordTemplateError, templateFor } from '../db/templates.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { describeTemplateFailure, renderEvent, type RenderedEvent } from '../render/render-event.js';
import { classifyFailure } from './classify-error.js';
import { floodSummaryEmbed } from './flood-summary.js';
import { afterFailure, gatheringUntil, isFlooding, joinableWithHead, nextAttemptAt, partsThatFit, type FloodSettings } from './policy.js';
import { newNonce as newBatchId, type SendMessage } from './sender.js';

export interface WorkerDeps {
  db: Database;
  send: SendMessage;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  retrySchedule: readonly number[];
  retentionMs: number;
  /** How long a partial batch may wait for more events once a burst is under way. */
  batchLingerMs: number;
  flood: FloodSettings;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Channels sent to at once; discord.js queues each channel's route on its own, under a global 50/s. */
const MAX_CONCURRENT_CHANNELS = 8;
/** After an unexpected error planning a channel, look at it again this much later. */
const REPLAN_AFTER_ERROR_MS = 1000;

interface SendPlan {
  batchId: string;
  batch: EventRow[];
  embeds: APIEmbed[];
  /** The batch is a flood summary: its events are counted, not shown one by one. */
  summary: boolean;
  /** Set only when the batch is one event whose template has content. */
  content?: string;
  allowedRoleIds?: string[];
  /** For a normal batch: each event's part, to record template failures once the message is sent. */
  parts?: RenderedEvent[];
}
type Plan = SendPlan | { waitUntil: number };

/**
 * Delivers stored events: the loop and its effects, with every decision taken by `policy.ts`.
 * Each channel has at most one send in flight and takes its events in arrival order; whatever
 * waits for a channel goes out together.
 *
 * Exactly once, as far as possible: a batch's events get a batch id (and so a Discord nonce with
 * enforce_nonce) in the database *before* the send. If the process dies after Discord posted but
 * before markDelivered committed, the restart resends the same events under the same nonce, and
 * Discord answers with the message it already has (its nonce memory lasts a few minutes) instead
 * of posting twice.
 */
export class DeliveryWorker {
  private readonly busyChannels = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private runScheduled = false;
  private running = false;
  private runAgain = false;
  private stopped = true;

  constructor(private readonly deps: WorkerDeps) {}

  start(): void {
    this.stopped = false;
    void this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
    this.kick();
  }

  /** Something may be ready to send: look soon (calls in the same tick are coalesced). */
  kick(): void {
    if (this.stopped || this.runScheduled) return;
    this.runScheduled = true;
    setImmediate(() => {
      this.runScheduled = false;
      void this.run();
    });
  }

  /** Stops taking work and waits up to `timeoutMs` for sends in flight; unfinished ones resume on restart. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    clearInterval(this.pruneTimer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), timeout]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.runAgain = true;
      return;
    }
    this.running = true;
    clearTimeout(this.wakeTimer);
    const now = this.deps.now();
    let nextDue = Number.POSITIVE_INFINITY;
    try {
      for (const head of await pendingHeads(this.deps.db)) {
        if (this.stopped) break;
        if (this.busyChannels.has(head.channelId)) continue;
        if (head.nextAttemptAt > now) {
          nextDue = Math.min(nextDue, head.nextAttemptAt);
          continue;
        }
        if (this.busyChannels.size >= MAX_CONCURRENT_CHANNELS) break;
        // Each channel is planned on its own: whatever goes wrong with one never holds up another.
        try {
          const plan = await this.planChannel(head, now);
          if ('waitUntil' in plan) nextDue = Math.min(nextDue, plan.waitUntil);
          else this.startChannel(head.channelId, plan);
        } catch (error) {
          this.deps.logger.error({ err: error, channel_id: head.channelId }, 'could not plan a delivery; trying again shortly');
          nextDue = Math.min(nextDue, now + REPLAN_AFTER_ERROR_MS);
        }
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'delivery worker could not read the queue; retrying in 1 s');
      nextDue = now + REPLAN_AFTER_ERROR_MS;
    } finally {
      this.running = false;
    }
    if (nextDue !== Number.POSITIVE_INFINITY && !this.stopped) {
      this.wakeTimer = setTimeout(() => this.kick(), Math.max(0, nextDue - now));
    }
    if (this.runAgain) {
      this.runAgain = false;
      this.kick();
    }
  }

  private startChannel(channelId: string, plan: SendPlan): void {
    this.busyChannels.add(channelId);
    const work = this.deliver(channelId, plan)
      .catch((error: unknown) => this.deps.logger.error({ err: error, channel_id: channelId }, 'delivery step failed'))
      .finally(() => {
        this.busyChannels.delete(channelId);
        this.inFlight.delete(work);
        this.kick();
      });
    this.inFlight.add(work);
  }

  /**
   * What to send next to the head's channel: the head's batch if it already has one (a retry, or a
   * resend after a crash), a flood summary, a new batch, or nothing yet while a burst gathers.
   */
  private async planChannel(head: EventRow, now: number): Promise<Plan> {
    const { db } = this.deps;
    if (head.batchId) {
      const batch = await eventsInBatch(db, head.batchId);
      return head.summary ? this.summaryPlan(head.batchId, batch) : this.sendPlan(head.batchId, batch, await this.render(batch));
    }
    const flood = await this.floodPlan(head, now);
    if (flood) return flood;
    const joinable = joinableWithHead(head.solo ? [head] : await pendingForChannel(db, head.channelId, EMBED_LIMITS.embedsPerMessage));
    const waitUntil = gatheringUntil(joinable, now, this.deps.batchLingerMs);
    if (waitUntil !== undefined) return { waitUntil };
    const parts = await this.render(joinable);
    const count = partsThatFit(parts);
    const batch = joinable.slice(0, count);
    const batchId = newBatchId();
    await assignBatch(
      db,
      batch.map((e) => e.seq),
      batchId,
    );
    return this.sendPlan(batchId, batch, parts.slice(0, count));
  }

  /** Each event drawn with its source's template, if one applies. */
  private async render(events: readonly EventRow[]): Promise<RenderedEvent[]> {
    const parts: RenderedEvent[] = [];
    for (const event of events) parts.push(renderEvent(event, await templateFor(this.deps.db, event.sourceId, event.eventType)));
    return parts;
  }

  private sendPlan(batchId: string, batch: EventRow[], parts: RenderedEvent[]): SendPlan {
    const only = parts.length === 1 ? parts[0] : undefined;
    return {
      batchId,
      batch,
      embeds: parts.flatMap((p) => p.embeds),
      summary: false,
      parts,
      ...(only?.content ? { content: only.content, allowedRoleIds: only.allowedRoleIds } : {}),
    };
  }

  /**
   * Only when a backlog is past reading (see `isFlooding`): every waiting event of the head's
   * source, of its first ten types, goes into one summary message, an embed per type, each event
   * counted exactly once.
   */
  private async floodPlan(head: EventRow, now: number): Promise<SendPlan | undefined> {
    const { db, flood } = this.deps;
    if (head.solo || now - head.receivedAt <= flood.afterMs) return undefined;
    if (!isFlooding(await backlogOfSource(db, head.sourceId), now, flood)) return undefined;
    const types = (await waitingByType(db, head.sourceId)).slice(0, EMBED_LIMITS.embedsPerMessage).map((w) => w.eventType);
    const batchId = newBatchId();
    const batch = await assignSummaryBatch(db, head.sourceId, types, batchId);
    this.deps.logger.warn(
      { source_id: head.sourceId, collapsed: batch.length, event_types: types },
      'flood: collapsing waiting events into a summary',
    );
    return this.summaryPlan(batchId, batch);
  }

  /** Rebuilt from the batch alone, so a resend after a crash makes the same message. */
  private summaryPlan(batchId: string, batch: EventRow[]): SendPlan {
    const byType = new Map<string, EventRow[]>();
    for (const event of batch) {
      const group = byType.get(event.eventType);
      if (group) group.push(event);
      else byType.set(event.eventType, [event]);
    }
    const embeds = [...byType].map(([eventType, group]) => {
      const latest = group.slice(-3).map((e) => renderEvent(e));
      return floodSummaryEmbed({
        eventType,
        count: group.length,
        project: latest[0]?.facts.projects[0],
        firstReceivedAt: group[0]!.receivedAt,
        lastReceivedAt: group[group.length - 1]!.receivedAt,
        examples: latest.map((part, i) => part.embeds[0]?.title ?? group[group.length - latest.length + i]!.eventType),
      });
    });
    return { batchId, batch, embeds, summary: true };
  }

  private async deliver(channelId: string, plan: SendPlan): Promise<void> {
    const { batchId, batch, embeds, summary, content, allowedRoleIds } = plan;
    if (batch.length === 0) return;
    const { db, metrics, now } = this.deps;
    const log = this.deps.logger.child({ channel_id: channelId, batch_id: batchId });
    const started = now();
    let messageId: string;
    try {
      messageId = (await this.deps.send(channelId, { embeds, nonce: batchId, content, allowedRoleIds })).id;
    } catch (error) {
      await this.recordFailure(batch, error, log);
      return;
    }
    const deliveredAt = now();
    const guilds = await guildsOfSources(db, [...new Set(batch.map((e) => e.sourceId))]);
    if (summary) {
      await markDelivered(db, batch, messageId, deliveredAt, embeds.length);
      metrics.deliveries.inc({ outcome: 'collapsed' }, batch.length);
      const sourceId = batch[0]!.sourceId;
      log.info(
        { source_id: sourceId, guild_id: guilds.get(sourceId), collapsed: batch.length, outcome: 'collapsed', message_id: messageId },
        'flood summary delivered',
      );
      return;
    }
    await markDelivered(db, batch, messageId, deliveredAt);
    metrics.deliveries.inc({ outcome: 'delivered' }, batch.length);
    for (const [i, event] of batch.entries()) {
      metrics.deliveryLatency.observe((deliveredAt - event.receivedAt) / 1000);
      const about = { event_id: event.id, source_id: event.sourceId, guild_id: guilds.get(event.sourceId), event_type: event.eventType };
      log.info({ ...about, outcome: 'delivered', message_id: messageId, ms: deliveredAt - started }, 'event delivered');
      const failure = plan.parts?.[i]?.templateFailure;
      if (failure) {
        // Recorded once, now that the event went out with the built-in embed instead.
        const reason = describeTemplateFailure(failure);
        await recordTemplateError(db, event.sourceId, reason, deliveredAt);
        log.warn({ ...about, reason }, 'custom template failed; posted the built-in embed');
      }
    }
  }

  private async recordFailure(batch: EventRow[], error: unknown, log: Logger): Promise<void> {
    const { db, metrics } = this.deps;
    const failure = classifyFailure(error);
    const now = this.deps.now();
    const fields = { event_ids: batch.map((e) => e.id), source_id: batch[0]!.sourceId, reason: failure.reason };
    const decision = afterFailure(failure, batch.length);
    if (decision.action === 'split') {
      log.warn(fields, 'Discord refused a batch; sending its events one by one');
      await splitBatch(db, batch);
    } else if (decision.action === 'retry') {
      log.warn({ ...fields, outcome: 'retry' }, 'delivery failed; will retry');
      const { gaveUp } = await markRetry(db, batch, failure.reason, (e) => nextAttemptAt(e, now, this.deps.retrySchedule), now);
      metrics.deliveries.inc({ outcome: 'retry' }, batch.length - gaveUp);
      if (gaveUp > 0) metrics.deliveries.inc({ outcome: 'failed' }, gaveUp);
    } else {
      log.error({ ...fields, outcome: 'failed' }, 'delivery failed permanently');
      await markPermanentFailure(db, batch, failure.reason, now);
      metrics.deliveries.inc({ outcome: 'failed' }, batch.length);
    }
  }

  private async prune(): Promise<void> {
    try {
      const removed = await pruneFinished(this.deps.db, this.deps.now() - this.deps.retentionMs);
      if (removed > 0) this.deps.logger.info({ removed }, 'pruned finished events');
    } catch (error) {
      this.deps.logger.error({ err: error }, 'pruning failed');
    }
  }
}
