import type { APIEmbed } from 'discord.js';
import type { Db } from '../db/client.js';
import {
  assignBatch,
  assignSummaryBatch,
  pendingCountForSource,
  waitingByType,
  eventsInBatch,
  markDelivered,
  markPermanentFailure,
  markRetry,
  pendingForChannel,
  pendingHeads,
  pruneFinished,
  splitBatch,
} from '../db/events.js';
import type { EventRow } from '../db/schema.js';
import { guildOfSource } from '../db/sources.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { classifyFailure } from './classify-error.js';
import { EMBED_LIMITS } from '../sentry/embed-limits.js';
import { floodSummaryEmbed, projectFromFooter } from './flood-summary.js';
import { countThatFit } from './pack.js';
import type { RenderedEvent } from './render-event.js';
import { newNonce as newBatchId, type SendMessage } from './sender.js';

export interface WorkerDeps {
  db: Db;
  send: SendMessage;
  /** Turns a stored event into its part of a message (template or built-in embed). */
  render: (event: EventRow) => RenderedEvent;
  logger: Logger;
  retrySchedule: readonly number[];
  retentionMs: number;
  now?: () => number;
  /** How long a partial batch may wait for more events once a burst is under way. */
  batchLingerMs: number;
  /** More than `threshold` events of one source waiting, the oldest for over `afterMs`: collapse them. */
  flood: { threshold: number; afterMs: number };
  metrics?: Metrics;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Channels sent to at once; discord.js queues each channel's route on its own, under a global 50/s. */
const MAX_CONCURRENT_CHANNELS = 8;

type SendPlan = {
  batchId: string;
  batch: EventRow[];
  embeds: APIEmbed[];
  summary: boolean;
  /** Set only when the batch is one event whose template has content. */
  content?: string;
  allowedRoleIds?: string[];
};
type Plan = SendPlan | { waitUntil: number };

/**
 * Delivers stored events. Each channel has at most one send in flight and takes its events in
 * arrival order; whatever waits for a channel goes out together, up to 10 embeds a message.
 *
 * Batching: a lone waiting event is sent at once, so a quiet channel sees no delay. When two or
 * more are waiting, a burst is under way: the worker sends only a full message (10 events) or,
 * failing that, what has gathered once the oldest has waited `batchLingerMs`. Discord takes about
 * 5 messages per 5 s per channel, so a burst of 100 costs 1 + 10 messages instead of dozens of
 * small ones stuck behind rate limits.
 *
 * Exactly once, as far as possible: a batch's events get a batch id (and so a Discord nonce with
 * enforce_nonce) in the database *before* the send. If the process dies after Discord posted but
 * before markDelivered committed — a window of one synchronous SQLite write — the restart resends
 * the same events under the same nonce, and Discord answers with the message it already has
 * (its nonce memory lasts a few minutes) instead of posting twice.
 */
export class DeliveryWorker {
  private readonly busyChannels = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private runScheduled = false;
  private stopped = true;
  private readonly now: () => number;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS).unref();
    this.kick();
  }

  /** Something may be ready to send: look soon (calls in the same tick are coalesced). */
  kick(): void {
    if (this.stopped || this.runScheduled) return;
    this.runScheduled = true;
    setImmediate(() => {
      this.runScheduled = false;
      this.run();
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

  private run(): void {
    if (this.stopped) return;
    clearTimeout(this.wakeTimer);
    const now = this.now();
    let nextDue = Number.POSITIVE_INFINITY;
    try {
      for (const head of pendingHeads(this.deps.db)) {
        if (this.busyChannels.has(head.channelId)) continue;
        if (head.nextAttemptAt > now) {
          nextDue = Math.min(nextDue, head.nextAttemptAt);
          continue;
        }
        if (this.busyChannels.size >= MAX_CONCURRENT_CHANNELS) break;
        const plan = this.planBatch(head, now);
        if ('waitUntil' in plan) nextDue = Math.min(nextDue, plan.waitUntil);
        else this.startChannel(head.channelId, plan);
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'delivery worker could not read the queue; retrying in 1 s');
      nextDue = now + 1000;
    }
    if (nextDue !== Number.POSITIVE_INFINITY) {
      this.wakeTimer = setTimeout(() => this.kick(), Math.max(0, nextDue - now));
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
   * resend after a crash), a new batch, or nothing yet while a burst gathers.
   */
  private planBatch(head: EventRow, now: number): Plan {
    if (head.batchId) {
      const batch = eventsInBatch(this.deps.db, head.batchId);
      return head.summary ? this.summaryPlan(head.batchId, batch) : this.sendPlan(head.batchId, batch, batch.map(this.deps.render));
    }
    const flood = this.floodPlan(head, now);
    if (flood) return flood;
    const candidates = head.solo ? [head] : pendingForChannel(this.deps.db, head.channelId, EMBED_LIMITS.embedsPerMessage);
    const joinable: EventRow[] = [];
    for (const event of candidates) {
      if (joinable.length > 0 && (event.solo || event.batchId)) break;
      joinable.push(event);
    }
    const lingerEnds = head.receivedAt + this.deps.batchLingerMs;
    const burstGathering = joinable.length > 1 && joinable.length < EMBED_LIMITS.embedsPerMessage && now < lingerEnds;
    if (burstGathering) return { waitUntil: lingerEnds };
    const rendered = joinable.map(this.deps.render);
    // A message has one content: an event whose template sets one goes alone.
    const withContent = rendered.findIndex((r) => r.content !== undefined);
    const end = withContent === 0 ? 1 : withContent === -1 ? rendered.length : withContent;
    const count = countThatFit(rendered.slice(0, end).map((r) => r.embed));
    const batch = joinable.slice(0, count);
    const batchId = newBatchId();
    assignBatch(
      this.deps.db,
      batch.map((e) => e.seq),
      batchId,
    );
    return this.sendPlan(batchId, batch, rendered.slice(0, count));
  }

  private sendPlan(batchId: string, batch: EventRow[], rendered: RenderedEvent[]): SendPlan {
    const only = rendered.length === 1 ? rendered[0] : undefined;
    return {
      batchId,
      batch,
      embeds: rendered.map((r) => r.embed),
      summary: false,
      ...(only?.content ? { content: only.content, allowedRoleIds: only.allowedRoleIds ?? [] } : {}),
    };
  }

  /**
   * Only when a backlog is past reading: more than `flood.threshold` events of the head's source
   * waiting and the oldest older than `flood.afterMs`. Then every waiting event of its first ten
   * types goes into one summary message, an embed per type, each event counted exactly once.
   */
  private floodPlan(head: EventRow, now: number): SendPlan | undefined {
    const { threshold, afterMs } = this.deps.flood;
    if (head.solo || now - head.receivedAt < afterMs) return undefined;
    if (pendingCountForSource(this.deps.db, head.sourceId) <= threshold) return undefined;
    const types = waitingByType(this.deps.db, head.sourceId)
      .slice(0, EMBED_LIMITS.embedsPerMessage)
      .map((w) => w.eventType);
    const batchId = newBatchId();
    const batch = assignSummaryBatch(this.deps.db, head.sourceId, types, batchId);
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
    const embeds = [...byType].map(([eventType, group]) =>
      floodSummaryEmbed({
        eventType,
        count: group.length,
        project: projectFromFooter(this.deps.render(group[0]!).embed),
        firstReceivedAt: group[0]!.receivedAt,
        lastReceivedAt: group[group.length - 1]!.receivedAt,
        examples: group.slice(-3).map((e) => this.deps.render(e).embed.title ?? e.eventType),
      }),
    );
    return { batchId, batch, embeds, summary: true };
  }

  private async deliver(channelId: string, { batchId, batch, embeds, summary, content, allowedRoleIds }: SendPlan): Promise<void> {
    if (batch.length === 0) return;
    const log = this.deps.logger.child({ channel_id: channelId, batch_id: batchId });
    const started = this.now();
    let messageId: string;
    try {
      messageId = (await this.deps.send(channelId, { embeds, nonce: batchId, content, allowedRoleIds })).id;
    } catch (error) {
      this.recordFailure(batch, error, log);
      return;
    }
    const deliveredAt = this.now();
    if (summary) {
      markDelivered(this.deps.db, batch, messageId, deliveredAt, embeds.length);
      this.deps.metrics?.deliveries.inc({ outcome: 'collapsed' }, batch.length);
      log.info(
        { ...this.sourceFields(batch[0]!.sourceId), collapsed: batch.length, outcome: 'collapsed', message_id: messageId },
        'flood summary delivered',
      );
      return;
    }
    markDelivered(this.deps.db, batch, messageId, deliveredAt);
    this.deps.metrics?.deliveries.inc({ outcome: 'delivered' }, batch.length);
    const sourceFields = new Map([...new Set(batch.map((e) => e.sourceId))].map((id) => [id, this.sourceFields(id)]));
    for (const event of batch) {
      this.deps.metrics?.deliveryLatency.observe((deliveredAt - event.receivedAt) / 1000);
      log.info(
        {
          event_id: event.id,
          ...sourceFields.get(event.sourceId),
          event_type: event.eventType,
          outcome: 'delivered',
          message_id: messageId,
          ms: deliveredAt - started,
        },
        'event delivered',
      );
    }
  }

  /** Which source and server a delivery log line is about. */
  private sourceFields(sourceId: number) {
    return { source_id: sourceId, guild_id: guildOfSource(this.deps.db, sourceId) };
  }

  private recordFailure(batch: EventRow[], error: unknown, log: Logger): void {
    const failure = classifyFailure(error);
    const now = this.now();
    const ids = batch.map((e) => e.id);
    log = log.child({ ...this.sourceFields(batch[0]!.sourceId), event_types: [...new Set(batch.map((e) => e.eventType))] });
    if (failure.kind === 'invalid' && batch.length > 1) {
      log.warn({ event_ids: ids, reason: failure.reason }, 'Discord refused a batch; sending its events one by one');
      splitBatch(this.deps.db, batch);
    } else if (failure.kind === 'retry') {
      log.warn({ event_ids: ids, reason: failure.reason, outcome: 'retry' }, 'delivery failed; will retry');
      const { gaveUp } = markRetry(this.deps.db, batch, failure.reason, this.deps.retrySchedule, now);
      this.deps.metrics?.deliveries.inc({ outcome: 'retry' }, batch.length - gaveUp);
      if (gaveUp > 0) this.deps.metrics?.deliveries.inc({ outcome: 'failed' }, gaveUp);
    } else {
      log.error({ event_ids: ids, reason: failure.reason, outcome: 'failed' }, 'delivery failed permanently');
      markPermanentFailure(this.deps.db, batch, failure.reason, now);
      this.deps.metrics?.deliveries.inc({ outcome: 'failed' }, batch.length);
    }
  }

  private prune(): void {
    try {
      const removed = pruneFinished(this.deps.db, this.now() - this.deps.retentionMs);
      if (removed > 0) this.deps.logger.info({ removed }, 'pruned finished events');
    } catch (error) {
      this.deps.logger.error({ err: error }, 'pruning failed');
    }
  }
}
