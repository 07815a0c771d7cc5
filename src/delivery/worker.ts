import type { Database } from '../db/database.js';
import { deferProbe, holdOf, holdsDue, liftHold, nextHoldProbe, probeHoldsOfGuild } from '../db/holds.js';
import { dueHeads, type QueuedJob } from '../db/queue.js';
import type { Hold } from '../db/schema.js';
import type { ChannelId, GuildId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { CardPlanner } from './card-plan.js';
import { CardUpdater } from './card-update.js';
import { Housekeeper } from './housekeeping.js';
import { StuckHeads } from './stuck-heads.js';
import { letIngestIn, NextLook, type Clock, type Timer } from './clock.js';
import { ChannelPlanner, type Plan, type PlanOptions } from './plan-channel.js';
import { outageGate, outageProbeAt, RECOVERY, type FloodSettings, type RetrySettings } from './policy.js';
import { Recorder, type Attempt, type DeliveryHealth, type DeliveryState } from './record.js';
import { send } from './send.js';
import type { DiscordChannels } from './sender.js';
import type { DiscordPeople } from '../discord/people.js';
import { DirectMessages } from '../people/direct-messages.js';

export interface WorkerDeps {
  db: Database;
  discord: DiscordChannels;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  retry: RetrySettings;
  retentionMs: number;
  /** How long a partial batch may wait for more events once a burst is under way. */
  batchLingerMs: number;
  flood: FloodSettings;
  /** A card this old is posted again, further down, when something about it needs eyes. */
  cardBumpAfterMs: number;
  /** Who sends to a channel when several replicas share the database: taken before it is planned, given back when its send is over. */
  channels: { take(channelId: ChannelId): Promise<boolean>; release(channelId: ChannelId): Promise<void> };
  /** Whether a member is still in a server: asked before a DM to them (src/people/direct-messages.ts). */
  people: Pick<DiscordPeople, 'isMember'>;
}

/**
 * A pass runs at least this often, kicked or not: no waiting event depends on a wake-up (a kick
 * missed, a NOTIFY lost while a replica's coordination connection was down, a command that forgot).
 */
export const SAFETY_PASS_MS = 5000;
/** Passes start at most this often (kicks in between wait for the next), however many webhooks arrive. */
const MIN_PASS_GAP_MS = 5;
/** Channels sent to at once; discord.js queues each channel's route on its own, under a global 50/s. */
const MAX_CONCURRENT_CHANNELS = 8;
/** After an unexpected error planning a channel, look at it again this much later. */
const REPLAN_AFTER_ERROR_MS = 1000;
/** A channel another replica is sending to is looked at again this much later (so a dead replica's channels are taken over within it). */
const RETRY_TAKEN_CHANNEL_MS = 1000;

/**
 * Delivers stored events: the loop. Each pass finds the channels with due work (one query, see
 * `dueHeads`), and plans, sends and records each on its own, so a failure with one event or
 * channel never holds up another. Each channel has at most one send in flight and takes its
 * events in arrival order; the decisions are the policy's (policy.ts), planning is
 * plan-channel.ts's, sending send.ts's and recording record.ts's.
 */
export class DeliveryWorker {
  private readonly busy = new Set<ChannelId>();
  private readonly stuck: StuckHeads;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly state: DeliveryState = { transientFailureAt: undefined, recordingFailing: false, stopped: true };
  private readonly planner: ChannelPlanner;
  private readonly recorder: Recorder;
  private readonly cards: CardUpdater;
  private readonly housekeeper: Housekeeper;
  private wakeTimer: Timer | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private safetyTimer: Timer | undefined;
  private passScheduled = false;
  /** When the last pass began (wall time: this paces CPU, it is not the delivery clock). */
  private lastPassAt = Number.NEGATIVE_INFINITY;
  private running = false;
  private runAgain = false;

  constructor(private readonly deps: WorkerDeps) {
    const cards = new CardPlanner({ ...deps, bumpAfterMs: deps.cardBumpAfterMs });
    const directMessages = new DirectMessages({ ...deps, members: deps.people });
    this.planner = new ChannelPlanner({ ...deps, cards, directMessages });
    this.recorder = new Recorder(deps, this.state);
    this.cards = new CardUpdater(deps);
    this.housekeeper = new Housekeeper({ ...deps, wake: () => this.kick() });
    this.stuck = new StuckHeads(deps);
  }

  start(): void {
    this.state.stopped = false;
    this.housekeeper.start();
    this.passPeriodically();
    this.kick();
  }

  /** A delete or a route change left work for the background (a purge, quiet hours letting go): do it now rather than within TIDY_EVERY_MS. */
  tidy(): Promise<void> {
    return this.housekeeper.tidy();
  }

  /** Something may be ready to send: look soon (calls in the same tick are coalesced). */
  kick(): void {
    if (this.state.stopped || this.passScheduled) return;
    this.passScheduled = true;
    const run = () => {
      this.passScheduled = false;
      void this.pass();
    };
    // Under a stream of webhooks every group commit kicks: passes are spaced, so that they do not take the loop from the webhooks.
    const wait = this.lastPassAt + MIN_PASS_GAP_MS - performance.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  /** A server's channels, roles or members changed: its held channels may work now, so probe them soon. */
  async serverChanged(guildId: GuildId): Promise<void> {
    const at = this.deps.clock.now() + RECOVERY.holdProbeAfterChangeMs;
    try {
      if ((await probeHoldsOfGuild(this.deps.db, guildId, at)) > 0) this.wakeBy(at);
    } catch (error) {
      this.deps.logger.error({ err: error, guild_id: guildId }, 'could not schedule a probe of held channels');
    }
  }

  health(): DeliveryHealth {
    return { outage: this.state.transientFailureAt !== undefined, recordingFailing: this.state.recordingFailing };
  }

  /** What the loop is doing now (for tests that step a clock and wait for the engine to go quiet in between). */
  activity(): { running: boolean; scheduled: boolean; inFlight: number; tidying: boolean } {
    return { running: this.running, scheduled: this.passScheduled, inFlight: this.inFlight.size, tidying: this.housekeeper.busy() };
  }

  /** Stops taking work and waits up to `timeoutMs` (wall time) for sends in flight; unfinished ones resume on restart. */
  async stop(timeoutMs: number): Promise<void> {
    this.state.stopped = true;
    for (const timer of [this.wakeTimer, this.safetyTimer]) timer?.cancel();
    await this.housekeeper.stop();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), timeout]);
    clearTimeout(timer);
  }

  /** Makes sure a pass looks again by `at`. */
  private wakeBy(at: number): void {
    if (this.state.stopped || at >= this.wakeAt) return;
    this.wakeTimer?.cancel();
    this.wakeAt = at;
    this.wakeTimer = this.deps.clock.after(at - this.deps.clock.now(), () => {
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.kick();
    });
  }

  private passPeriodically(): void {
    this.safetyTimer = this.deps.clock.after(SAFETY_PASS_MS, () => {
      this.kick();
      if (!this.state.stopped) this.passPeriodically();
    });
  }

  private gate(now: number) {
    return outageGate(this.state.transientFailureAt, this.inFlight.size, now);
  }

  private async pass(): Promise<void> {
    if (this.state.stopped) return;
    if (this.running) {
      this.runAgain = true;
      return;
    }
    this.running = true;
    this.lastPassAt = performance.now();
    const now = this.deps.clock.now();
    const next = new NextLook();
    try {
      next.consider(await this.probeHeldChannels(now));
      const heads = await dueHeads(this.deps.db);
      for (const head of heads) {
        if (this.state.stopped) break;
        if (this.busy.has(head.channelId)) continue;
        if (head.nextAttemptAt > now) {
          next.consider(head.nextAttemptAt);
          continue;
        }
        const gate = this.gate(now);
        if (!gate.open) {
          next.consider(gate.until); // with a send in flight, its end kicks the loop
          break;
        }
        if (this.busy.size >= MAX_CONCURRENT_CHANNELS) break;
        await letIngestIn();
        next.consider(await this.tryChannel(head.channelId, now, { head }));
      }
      next.consider(await this.probeDuringOutage(heads, now));
      next.consider(await nextHoldProbe(this.deps.db, now));
      // Nothing left to send: whether Discord still fails is unknown, and nothing is being paced.
      if (heads.length === 0 && this.inFlight.size === 0) this.state.transientFailureAt = undefined;
    } catch (error) {
      this.deps.logger.error({ err: error }, 'delivery worker could not read the queue; retrying in 1 s');
      next.consider(now + REPLAN_AFTER_ERROR_MS);
    } finally {
      this.running = false;
    }
    if (next.at !== Number.POSITIVE_INFINITY) this.wakeBy(next.at);
    if (this.runAgain) {
      this.runAgain = false;
      this.kick();
    }
  }

  /**
   * Plans one channel and starts its send; resolves with when to look at it again, if it waits.
   * Whatever goes wrong with this channel stays with it: it is looked at again shortly, and the
   * pass goes on with the others.
   */
  private async tryChannel(
    channelId: ChannelId,
    now: number,
    options: PlanOptions & { probing?: Hold; head?: QueuedJob } = {},
  ): Promise<number | undefined> {
    try {
      const plan = await this.planTaken(channelId, now, options);
      this.stuck.planned(channelId);
      if (plan === 'taken elsewhere') return now + RETRY_TAKEN_CHANNEL_MS;
      if ('kind' in plan) this.startSend(options.probing ? { ...plan, probing: options.probing } : plan);
      else if ('waitUntil' in plan) {
        // A probe that meets a card edit waiting out its second is due again then.
        if (options.probing) await deferProbe(this.deps.db, channelId, plan.waitUntil);
        return plan.waitUntil;
      } else if (options.probing) await liftHold(this.deps.db, channelId); // nothing waits there any more
      return undefined;
    } catch (error) {
      this.deps.logger.error({ err: error, channel_id: channelId }, 'could not plan a delivery; trying again shortly');
      if (options.head) await this.stuck.failed(options.head, error);
      return now + REPLAN_AFTER_ERROR_MS;
    }
  }

  /**
   * During an outage with no retry due and nothing in flight: the oldest waiting batch goes anyway
   * once `outageProbeMs` has passed since the last failure, so Discord's return is noticed soon.
   */
  private async probeDuringOutage(heads: readonly QueuedJob[], now: number): Promise<number | undefined> {
    const probeAt = outageProbeAt(this.state.transientFailureAt);
    if (probeAt === undefined || this.inFlight.size > 0) return undefined;
    if (now < probeAt) return probeAt;
    const oldest = heads.find((h) => !this.busy.has(h.channelId));
    return oldest ? this.tryChannel(oldest.channelId, now, { ignoreLinger: true }) : undefined;
  }

  /** One request per held channel whose probe is due: its waiting batch, sent as usual. */
  private async probeHeldChannels(now: number): Promise<number | undefined> {
    const next = new NextLook();
    for (const hold of await holdsDue(this.deps.db, now)) {
      if (this.busy.has(hold.channelId)) continue;
      const gate = this.gate(now);
      if (!gate.open) return gate.until;
      next.consider(await this.tryChannel(hold.channelId, now, { ignoreLinger: true, probing: hold }));
    }
    return next.at === Number.POSITIVE_INFINITY ? undefined : next.at;
  }

  /**
   * Plans a channel once it is this replica's to send to; a plan that sends keeps it until the
   * send is over (startSend gives it back), any other gives it back at once.
   *
   * The list a pass works through was read before its awaits: meanwhile a send that ended (here,
   * or on another replica) may have put the channel on hold. So whether it is held is read again
   * here, once the channel is ours; only the probe of a hold plans a held channel.
   */
  private async planTaken(channelId: ChannelId, now: number, options: PlanOptions & { probing?: Hold }): Promise<Plan | 'taken elsewhere'> {
    if (!(await this.deps.channels.take(channelId))) return 'taken elsewhere';
    let plan: Plan | undefined;
    try {
      if (!options.probing && (await holdOf(this.deps.db, channelId))) return (plan = { nothing: true });
      plan = await this.planner.plan(channelId, now, options);
      return plan;
    } finally {
      if (!plan || !('kind' in plan)) await this.deps.channels.release(channelId);
    }
  }

  private startSend(attempt: Attempt): void {
    this.busy.add(attempt.channelId);
    const work = send({ ...this.deps, recorder: this.recorder, cards: this.cards }, attempt)
      .catch((error: unknown) => this.deps.logger.error({ err: error, channel_id: attempt.channelId }, 'delivery step failed'))
      .finally(async () => {
        await this.deps.channels.release(attempt.channelId);
        this.busy.delete(attempt.channelId);
        this.inFlight.delete(work);
        this.kick();
      });
    this.inFlight.add(work);
  }
}
