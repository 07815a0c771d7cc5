import type { APIEmbed } from 'discord.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/database.js';
import {
  assignBatch,
  assignSummaryBatches,
  backlogOfRoute,
  expireHeld,
  jobsInBatch,
  latestWaitingOfType,
  markDelivered,
  markFailed,
  markHeld,
  markRetry,
  pendingForChannel,
  pendingHeads,
  redrawWith,
  splitBatch,
  splitSummary,
  waitingByType,
  wakeRetries,
  type Job,
} from '../db/deliveries.js';
import { pruneCards } from '../db/cards.js';
import { pruneFinished } from '../db/events.js';
import { deferProbe, holdChannel, holdOf, holdsDue, liftHold, nextHoldProbe, probeHoldsOfGuild } from '../db/holds.js';
import { routesByIds } from '../db/routes.js';
import { guildsOfSources } from '../db/sources.js';
import { recordTemplateError, templateFor } from '../db/templates.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { Hold } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { describeTemplateFailure, renderEvent, type RenderedEvent } from '../render/render-event.js';
import { classifyFailure } from './classify-error.js';
import { floodSummaryEmbed } from './flood-summary.js';
import {
  afterFailure,
  gatheringUntil,
  isCardJob,
  isFlooding,
  joinableWithHead,
  nextAttemptAt,
  outageGate,
  outageProbeAt,
  partsThatFit,
  RECOVERY,
  type AfterFailure,
  type FloodSettings,
  type RetrySettings,
} from './policy.js';
import { CardLane, type CardUpdateDone, type CardUpdatePlan } from './card-lane.js';
import { sendPlan, withPing, type SendPlan } from './plan.js';
import { newNonce as newBatchId, type DiscordChannels } from './sender.js';

export interface WorkerDeps {
  db: Database;
  discord: DiscordChannels;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  retry: RetrySettings;
  retentionMs: number;
  /** How long a partial batch may wait for more events once a burst is under way. */
  batchLingerMs: number;
  flood: FloodSettings;
  /** A card this old is posted again, further down, when something about it needs eyes. */
  cardBumpAfterMs: number;
  /**
   * Who sends to a channel when several replicas share the database: a channel is taken before it
   * is planned and given back when its send is over (with SQLite, always this process).
   */
  channels: { take(channelId: string): Promise<boolean>; release(channelId: string): Promise<void> };
}

/** What /healthz reports of delivery. */
export interface DeliveryHealth {
  /** Discord is failing transiently: sends are paced to probes. */
  outage: boolean;
  /** Messages were sent but recording them in the database keeps failing. */
  recordingFailing: boolean;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Channels sent to at once; discord.js queues each channel's route on its own, under a global 50/s. */
const MAX_CONCURRENT_CHANNELS = 8;
/** After an unexpected error planning a channel, look at it again this much later. */
const REPLAN_AFTER_ERROR_MS = 1000;
/** A channel another replica is sending to is looked at again this much later (so a dead replica's channels are taken over within it). */
const RETRY_TAKEN_CHANNEL_MS = 1000;

type Plan = SendPlan | CardUpdatePlan | { waitUntil: number } | { nothing: true };

/**
 * Delivers stored events: the loop and its effects, with every decision taken by `policy.ts`.
 * Each channel has at most one send in flight and takes its events in arrival order; whatever
 * waits for a channel goes out together. Each channel is planned, drawn and sent on its own, so a
 * failure with one event or channel never holds up another.
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
  private wakeAt = Number.POSITIVE_INFINITY;
  private pruneTimer: NodeJS.Timeout | undefined;
  private runScheduled = false;
  private running = false;
  private runAgain = false;
  private stopped = true;
  /** Set while Discord fails transiently; cleared by the next success. */
  private lastTransientFailureAt: number | undefined;
  private recordingFailing = false;

  private readonly cards: CardLane;

  constructor(private readonly deps: WorkerDeps) {
    this.cards = new CardLane({ ...deps, bumpAfterMs: deps.cardBumpAfterMs });
  }

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

  /** A server's channels, roles or members changed: its held channels may work now, so probe them soon. */
  async serverChanged(guildId: string): Promise<void> {
    const at = this.deps.now() + RECOVERY.holdProbeAfterChangeMs;
    try {
      if ((await probeHoldsOfGuild(this.deps.db, guildId, at)) > 0) this.wakeBy(at);
    } catch (error) {
      this.deps.logger.error({ err: error, guild_id: guildId }, 'could not schedule a probe of held channels');
    }
  }

  health(): DeliveryHealth {
    return { outage: this.lastTransientFailureAt !== undefined, recordingFailing: this.recordingFailing };
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

  /** Makes sure the loop looks again by `at`. */
  private wakeBy(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.kick();
      },
      Math.max(0, at - this.deps.now()),
    );
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.runAgain = true;
      return;
    }
    this.running = true;
    const now = this.deps.now();
    let nextDue = Number.POSITIVE_INFINITY;
    const later = (at: number | undefined) => {
      if (at !== undefined) nextDue = Math.min(nextDue, at);
    };
    try {
      later(await this.probeHeldChannels(now));
      const heads = await pendingHeads(this.deps.db);
      for (const head of heads) {
        if (this.stopped) break;
        if (this.busyChannels.has(head.channelId)) continue;
        if (head.nextAttemptAt > now) {
          later(head.nextAttemptAt);
          continue;
        }
        const gate = outageGate(this.lastTransientFailureAt, this.inFlight.size, now);
        if (!gate.open) {
          later(gate.until); // with a send in flight, its end kicks the loop
          break;
        }
        if (this.busyChannels.size >= MAX_CONCURRENT_CHANNELS) break;
        try {
          const plan = await this.planTaken(head.channelId, now);
          if (plan === 'taken elsewhere') later(now + RETRY_TAKEN_CHANNEL_MS);
          else if ('waitUntil' in plan) later(plan.waitUntil);
          else if ('kind' in plan) this.startChannel(plan);
        } catch (error) {
          this.deps.logger.error({ err: error, channel_id: head.channelId }, 'could not plan a delivery; trying again shortly');
          later(now + REPLAN_AFTER_ERROR_MS);
        }
      }
      later(await this.probeDuringOutage(heads, now));
      later(await nextHoldProbe(this.deps.db));
    } catch (error) {
      this.deps.logger.error({ err: error }, 'delivery worker could not read the queue; retrying in 1 s');
      later(now + REPLAN_AFTER_ERROR_MS);
    } finally {
      this.running = false;
    }
    if (nextDue !== Number.POSITIVE_INFINITY) this.wakeBy(nextDue);
    if (this.runAgain) {
      this.runAgain = false;
      this.kick();
    }
  }

  /**
   * During an outage with no retry due and nothing in flight: the oldest waiting batch goes anyway
   * once `outageProbeMs` has passed since the last failure, so Discord's return is noticed soon.
   */
  private async probeDuringOutage(heads: readonly Job[], now: number): Promise<number | undefined> {
    const probeAt = outageProbeAt(this.lastTransientFailureAt);
    if (probeAt === undefined || this.inFlight.size > 0) return undefined;
    if (now < probeAt) return probeAt;
    const oldest = heads.find((h) => !this.busyChannels.has(h.channelId));
    if (!oldest) return undefined;
    const plan = await this.planTaken(oldest.channelId, now, { ignoreLinger: true });
    if (plan !== 'taken elsewhere' && 'kind' in plan) this.startChannel(plan);
    return undefined;
  }

  /** One request per held channel whose probe is due: its waiting batch, sent as usual. */
  private async probeHeldChannels(now: number): Promise<number | undefined> {
    for (const hold of await holdsDue(this.deps.db, now)) {
      if (this.busyChannels.has(hold.channelId)) continue;
      const gate = outageGate(this.lastTransientFailureAt, this.inFlight.size, now);
      if (!gate.open) return gate.until;
      const plan = await this.planTaken(hold.channelId, now, { ignoreLinger: true, probingHold: true });
      if (plan === 'taken elsewhere') continue;
      if ('kind' in plan) this.startChannel({ ...plan, probing: hold });
      else if ('nothing' in plan)
        await liftHold(this.deps.db, hold.channelId); // nothing waits there any more
      else await deferProbe(this.deps.db, hold.channelId, plan.waitUntil); // a card edit waiting out its second
    }
    return undefined;
  }

  private startChannel(plan: SendPlan | (CardUpdatePlan & { probing?: SendPlan['probing'] })): void {
    this.busyChannels.add(plan.channelId);
    const work = (plan.kind === 'send' ? this.deliver(plan) : this.deliverCardUpdate(plan))
      .catch((error: unknown) => this.deps.logger.error({ err: error, channel_id: plan.channelId }, 'delivery step failed'))
      .finally(async () => {
        await this.deps.channels.release(plan.channelId);
        this.busyChannels.delete(plan.channelId);
        this.inFlight.delete(work);
        this.kick();
      });
    this.inFlight.add(work);
  }

  /**
   * Plans a channel once it is this replica's to send to; a plan that sends keeps it until the
   * send is over (startChannel gives it back), any other gives it back at once.
   *
   * The list a pass works through was read before its awaits: meanwhile a send that ended (here,
   * or on another replica) may have put the channel on hold. So whether it is held is read again
   * here, once the channel is ours; only the probe of a hold plans a held channel.
   */
  private async planTaken(
    channelId: string,
    now: number,
    options: { ignoreLinger?: boolean; probingHold?: boolean } = {},
  ): Promise<Plan | 'taken elsewhere'> {
    if (!(await this.deps.channels.take(channelId))) return 'taken elsewhere';
    let plan: Plan | undefined;
    try {
      if (!options.probingHold && (await holdOf(this.deps.db, channelId))) return (plan = { nothing: true });
      plan = await this.planChannel(channelId, now, options);
      return plan;
    } finally {
      if (!plan || !('kind' in plan)) await this.deps.channels.release(channelId);
    }
  }

  /**
   * What to send next to a channel: its head's batch if it already has one (a retry, or a resend
   * after a crash), a flood summary, a new batch, or nothing yet while a burst gathers. A head
   * about a card on a card route is the card lane's to plan.
   */
  private async planChannel(channelId: string, now: number, options: { ignoreLinger?: boolean } = {}): Promise<Plan> {
    const { db } = this.deps;
    const pending = await pendingForChannel(db, channelId, EMBED_LIMITS.embedsPerMessage);
    const head = pending[0];
    if (!head) return { nothing: true };
    if (isCardJob(head)) return this.cards.plan(channelId, now, options);
    if (head.batchId) {
      const batch = await jobsInBatch(db, head.batchId);
      if (head.summary) return this.summaryPlan(channelId, head.batchId, batch);
      return sendPlan(channelId, head.batchId, batch, await this.render(batch));
    }
    const flood = await this.floodPlan(head, now);
    if (flood) return flood;
    const joinable = joinableWithHead(pending);
    const waitUntil = options.ignoreLinger ? undefined : gatheringUntil(joinable, now, this.deps.batchLingerMs);
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
    return sendPlan(channelId, batchId, batch, parts.slice(0, count));
  }

  /** Each delivery drawn with the template that applies on its route, and its route's ping when the event calls for one. */
  private async render(jobs: readonly Job[]): Promise<RenderedEvent[]> {
    const routes = await routesByIds(this.deps.db, [...new Set(jobs.map((j) => j.routeId))]);
    const parts: RenderedEvent[] = [];
    for (const job of jobs) {
      const part = renderEvent(job, await templateFor(this.deps.db, job.sourceId, job.routeId, job.eventType));
      parts.push(withPing(part, routes.get(job.routeId)));
    }
    return parts;
  }

  /**
   * Only when a backlog is past reading (see `isFlooding`): every waiting delivery of the head's
   * route is counted in a summary embed per type, and the summaries are packed into messages like
   * any batch (10 embeds, 6,000 characters). Each message is a batch of its own.
   */
  private async floodPlan(head: Job, now: number): Promise<SendPlan | undefined> {
    const { db, flood } = this.deps;
    // Card routes do not flood: events about one issue become one edit, however many there are.
    if (head.layout === 'card' || head.solo || now - head.receivedAt <= flood.afterMs) return undefined;
    if (!isFlooding(await backlogOfRoute(db, head.routeId), now, flood)) return undefined;
    const groups = await waitingByType(db, head.routeId);
    const embeds: APIEmbed[] = [];
    for (const group of groups) {
      const latest = (await latestWaitingOfType(db, head.routeId, group.eventType, 3)).map((e) => renderEvent(e));
      embeds.push(
        floodSummaryEmbed({
          ...group,
          project: latest[0]?.facts.projects[0],
          examples: latest.map((part) => part.embeds[0]?.title ?? group.eventType),
        }),
      );
    }
    const messages: { batchId: string; eventTypes: string[] }[] = [];
    for (let start = 0; start < embeds.length; ) {
      const count = partsThatFit(embeds.slice(start).map((embed) => ({ embeds: [embed] })));
      messages.push({ batchId: newBatchId(), eventTypes: groups.slice(start, start + count).map((g) => g.eventType) });
      start += count;
    }
    if (messages.length === 0) return undefined;
    await assignSummaryBatches(db, head.sourceId, messages);
    const collapsed = groups.reduce((n, g) => n + g.count, 0);
    this.deps.logger.warn(
      { source_id: head.sourceId, collapsed, messages: messages.length },
      'flood: collapsing waiting events into summaries',
    );
    const first = messages[0]!.batchId;
    return this.summaryPlan(head.channelId, first, await jobsInBatch(db, first));
  }

  /** Rebuilt from the batch alone, so a resend after a crash makes the same message. */
  private summaryPlan(channelId: string, batchId: string, batch: Job[]): SendPlan {
    const byType = new Map<string, Job[]>();
    for (const event of batch) byType.set(event.eventType, [...(byType.get(event.eventType) ?? []), event]);
    const embeds = [...byType].map(([eventType, group]) => {
      const latest = group.slice(-3).map((e) => renderEvent(e));
      return floodSummaryEmbed({
        eventType,
        count: group.length,
        project: latest[0]?.facts.projects[0],
        firstReceivedAt: group[0]!.receivedAt,
        lastReceivedAt: group[group.length - 1]!.receivedAt,
        examples: latest.map((part) => part.embeds[0]?.title ?? eventType),
      });
    });
    return { kind: 'send', channelId, batchId, batch, embeds, summary: true, parts: [] };
  }

  private async deliver(plan: SendPlan): Promise<void> {
    const { channelId, batchId, batch, embeds, summary, content, allowedRoleIds, components } = plan;
    if (batch.length === 0) return;
    const { db, metrics, now } = this.deps;
    const log = this.deps.logger.child({ channel_id: channelId, batch_id: batchId });
    const started = now();
    let messageId: string;
    try {
      messageId = (await this.deps.discord.post(channelId, { embeds, nonce: batchId, content, allowedRoleIds, components })).id;
    } catch (error) {
      await this.persist(() => this.recordFailure(plan, error, log));
      return;
    }
    const deliveredAt = now();
    const record = plan.record;
    await this.persist(() =>
      markDelivered(db, batch, messageId, deliveredAt, {
        summaries: summary ? embeds.length : undefined,
        alsoRecord: record ? (tx) => record(tx, messageId, deliveredAt) : undefined,
      }),
    );
    const guilds = await this.afterSuccess(plan, deliveredAt, log);
    if (summary) {
      metrics.deliveries.inc({ outcome: 'collapsed' }, batch.length);
      const sourceId = batch[0]!.sourceId;
      log.info(
        { source_id: sourceId, guild_id: guilds.get(sourceId), collapsed: batch.length, outcome: 'collapsed', message_id: messageId },
        'flood summary delivered',
      );
      return;
    }
    this.countDelivered(batch, messageId, deliveredAt, started, guilds, log);
    for (const [i, event] of batch.entries()) {
      const about = {
        event_id: event.eventId,
        route_id: event.routeId,
        source_id: event.sourceId,
        guild_id: guilds.get(event.sourceId),
        event_type: event.eventType,
      };
      const failure = plan.parts[i]?.templateFailure;
      if (failure) {
        // Recorded once, now that the event went out with the built-in embed instead.
        const reason = describeTemplateFailure(failure);
        await this.persist(() => recordTemplateError(db, event.sourceId, reason, deliveredAt));
        log.warn({ ...about, reason }, 'custom template failed; posted the built-in embed');
      }
    }
  }

  /** A card edit: Discord first, then (with the same backed-off writes as any delivery) the record. */
  private async deliverCardUpdate(plan: CardUpdatePlan & { probing?: SendPlan['probing'] }): Promise<void> {
    const log = this.deps.logger.child({ channel_id: plan.channelId, batch_id: plan.batchId, card_key: plan.card.cardKey });
    const started = this.deps.now();
    let done: CardUpdateDone;
    try {
      done = await this.cards.deliverUpdate(plan);
    } catch (error) {
      await this.persist(() => this.recordFailure(plan, error, log));
      return;
    }
    const deliveredAt = this.deps.now();
    await this.persist(() =>
      markDelivered(this.deps.db, plan.batch, done.messageId, deliveredAt, { alsoRecord: (tx) => done.record(tx, deliveredAt) }),
    );
    const guilds = await this.afterSuccess(plan, deliveredAt, log);
    this.countDelivered(plan.batch, done.messageId, deliveredAt, started, guilds, log);
  }

  /** After any success: an outage is over (wake every retry), a probed hold is lifted. Resolves with each source's guild, for log lines. */
  private async afterSuccess(plan: { channelId: string; batch: Job[]; probing?: SendPlan['probing'] }, at: number, log: Logger) {
    const { db } = this.deps;
    if (this.lastTransientFailureAt !== undefined) {
      this.lastTransientFailureAt = undefined;
      const woken = await this.persist(() => wakeRetries(db, at));
      log.info({ woken }, 'Discord answers again: every waiting retry is due now');
    }
    if (plan.probing) {
      const { reason, since } = plan.probing;
      await this.persist(() => liftHold(db, plan.channelId));
      log.info({ reason, held_since: since }, 'the channel works again: hold lifted');
    }
    return this.persist(() => guildsOfSources(db, [...new Set(plan.batch.map((e) => e.sourceId))]));
  }

  private countDelivered(
    batch: readonly Job[],
    messageId: string,
    at: number,
    started: number,
    guilds: Map<number, string>,
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

  private async recordFailure(plan: SendPlan | CardUpdatePlan, error: unknown, log: Logger): Promise<void> {
    const { db, metrics } = this.deps;
    const { batch, channelId } = plan;
    const failure = classifyFailure(error);
    const now = this.deps.now();
    const fields = { event_ids: batch.map((e) => e.eventId), source_id: batch[0]!.sourceId, reason: failure.reason };
    const parts = plan.kind === 'send' ? plan.parts : [];
    const decided = afterFailure(
      failure,
      batch,
      parts.map((p) => p.drawing),
    );
    // A card edit is drawn by Dispatch within every limit; if Discord still refuses it, no smaller batch or plainer drawing would help.
    const decision = plan.kind === 'card-update' && failure.kind === 'invalid' ? cardRefused(plan) : decided;
    const probing = 'probing' in plan ? (plan.probing as Hold | undefined) : undefined;
    switch (decision.action) {
      case 'hold': {
        const guildId = (await guildsOfSources(db, [batch[0]!.sourceId])).get(batch[0]!.sourceId) ?? '';
        const code = failure.code ?? 0;
        await holdChannel(db, { channelId, guildId, code, reason: failure.reason }, now, now + RECOVERY.holdProbeIntervalMs);
        await markHeld(db, batch, failure.reason, now);
        metrics.deliveries.inc({ outcome: 'held' }, batch.length);
        log.warn({ ...fields, outcome: 'held' }, 'Discord refused for a reason a person can fix: the channel is on hold, its events wait');
        return;
      }
      case 'retry': {
        this.lastTransientFailureAt = now;
        const { gaveUp } = await markRetry(db, batch, failure.reason, (e) => nextAttemptAt(e, now, this.deps.retry), now);
        if (probing) await deferProbe(db, channelId, nextAttemptAt(batch[0]!, now, this.deps.retry) ?? now + RECOVERY.holdProbeIntervalMs);
        metrics.deliveries.inc({ outcome: 'retry' }, batch.length - gaveUp);
        if (gaveUp > 0) metrics.deliveries.inc({ outcome: 'failed' }, gaveUp);
        log.warn(
          { ...fields, outcome: gaveUp > 0 ? 'failed' : 'retry' },
          gaveUp > 0 ? 'delivery failed until its deadline: given up' : 'delivery failed; will retry',
        );
        return;
      }
      case 'split':
        log.warn(fields, 'Discord refused a batch; sending its events one by one');
        await splitBatch(db, batch);
        return;
      case 'split-summary':
        log.warn(fields, 'Discord refused a flood summary; sending one summary per event type');
        await splitSummary(db, batch, newBatchId);
        return;
      case 'redraw': {
        const pattern = plan.kind === 'send' ? parts[0]?.templatePattern : plan.template?.pattern;
        if (pattern !== undefined) {
          // The template made a message Discord would not take: record it as the template's failure.
          const reason = describeTemplateFailure({ pattern, kind: 'refused by Discord', message: failure.reason });
          await recordTemplateError(db, batch[0]!.sourceId, reason, now);
        }
        await redrawWith(db, batch, decision.renderFallback);
        metrics.deliveries.inc({ outcome: 'redrawn' }, batch.length);
        log.warn(
          { ...fields, render_fallback: decision.renderFallback },
          'Discord refused how the event was drawn; sending it more plainly',
        );
        return;
      }
      case 'fail':
        await markFailed(db, batch, failure.reason, now);
        metrics.deliveries.inc({ outcome: 'failed' }, batch.length);
        log.error({ ...fields, outcome: 'failed' }, 'delivery failed for good');
    }
  }

  /**
   * Database writes after a send. If they fail, they are tried again with growing waits (never in
   * a hot loop) while the channel stays busy, so the message is not sent again meanwhile; /healthz
   * shows delivery as degraded until a write works again.
   */
  private async persist<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await work();
        if (this.recordingFailing) {
          this.recordingFailing = false;
          this.deps.logger.info('recording deliveries works again');
        }
        return result;
      } catch (error) {
        if (this.stopped) throw error;
        this.recordingFailing = true;
        const wait = RECOVERY.recordBackoffMs[Math.min(attempt, RECOVERY.recordBackoffMs.length - 1)]!;
        this.deps.logger.error({ err: error, retry_in_ms: wait }, 'could not record a delivery in the database; trying again');
        await sleep(wait);
      }
    }
  }

  private async prune(): Promise<void> {
    try {
      const now = this.deps.now();
      const expired = await expireHeld(this.deps.db, now - this.deps.retentionMs, now);
      if (expired > 0) {
        this.deps.metrics.deliveries.inc({ outcome: 'failed' }, expired);
        this.deps.logger.warn({ expired }, 'held events older than the retention gave up');
      }
      const removed = await pruneFinished(this.deps.db, now - this.deps.retentionMs);
      await pruneCards(this.deps.db, now - this.deps.retentionMs);
      if (removed > 0) this.deps.logger.info({ removed }, 'pruned finished events');
    } catch (error) {
      this.deps.logger.error({ err: error }, 'pruning failed');
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
