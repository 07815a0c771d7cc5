import type { Database } from '../db/database.js';
import { jobsOf, queuedForChannel, queuedInBatch, sendingIn, seqsOf, withinBytes, type Job, type QueuedJob } from '../db/queue.js';
import { routesByIds } from '../db/routes.js';
import { templateFor } from '../db/templates.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { ChannelId } from '../ids.js';
import type { Logger } from '../logger.js';
import { renderEvent, type RenderedEvent } from '../render/render-event.js';
import type { CardPlanner, CardUpdatePlan } from './card-plan.js';
import { claimPlan } from './claim.js';
import { floodPlan, summaryPlan } from './flood.js';
import { acceptedAlertRole, sendPlan, silentSend, withPing, type SendGuard, type SendPlan } from './plan.js';
import type { DirectMessages } from '../people/direct-messages.js';
import { gatheringUntil, isCardJob, joinableWithHead, partsThatFit, type FloodSettings } from './policy.js';
import { newNonce } from './sender.js';
import { letIngestIn } from './clock.js';

/** Each delivery with its event's level, as its drawing read it. */
const levelled = (jobs: readonly Job[], parts: readonly RenderedEvent[]) => jobs.map((job, i) => ({ job, level: parts[i]?.facts.level }));

/** What a channel does next: send a message, edit a card, look again later, or nothing. */
export type Plan = SendPlan | CardUpdatePlan | { waitUntil: number } | { nothing: true };

export interface PlanOptions {
  /** Send what has gathered without waiting for a burst to fill a message (a probe must go now). */
  ignoreLinger?: boolean;
}

export interface ChannelPlannerDeps {
  db: Database;
  logger: Logger;
  flood: FloodSettings;
  /** How long a partial batch may wait for more events once a burst is under way. */
  batchLingerMs: number;
  cards: CardPlanner;
  /** How a member's DM is drawn and checked (a DM route's deliveries; src/people/). */
  directMessages: DirectMessages;
}

/**
 * Plans one channel: a batch whose send began there (sent again, under its nonce), a retry of a
 * batch formed for it, a flood summary, a new batch, or nothing yet while a burst gathers. A head
 * about a card on a card route is the card planner's. A plan that sends has claimed its deliveries
 * for the channel (see `claimPlan`).
 */
export class ChannelPlanner {
  constructor(private readonly deps: ChannelPlannerDeps) {}

  async plan(channelId: ChannelId, now: number, options: PlanOptions = {}): Promise<Plan> {
    const { db } = this.deps;
    const sending = await sendingIn(db, channelId);
    if (sending.length > 0) return this.again(channelId, sending, now);
    const pending = await queuedForChannel(db, channelId, EMBED_LIMITS.embedsPerMessage);
    const head = pending[0];
    if (!head) return { nothing: true };
    if (head.batchId) return this.again(channelId, await queuedInBatch(db, head.batchId), now);
    if (isCardJob(head)) return this.deps.cards.plan(channelId, now, options);
    const flood = await floodPlan(this.deps, head, now);
    if (flood) return flood;
    const queued = withinBytes(joinableWithHead(pending));
    const waitUntil = options.ignoreLinger ? undefined : gatheringUntil(queued, now, this.deps.batchLingerMs);
    if (waitUntil !== undefined) return { waitUntil };
    const joinable = await jobsOf(db, seqsOf(queued));
    const { parts, guard } = await this.render(joinable);
    const batch = joinable.slice(0, partsThatFit(parts));
    const shown = parts.slice(0, batch.length);
    const plan = sendPlan(channelId, newNonce(), batch, shown, await silentSend(db, levelled(batch, shown), now));
    return claimPlan(db, guard ? { ...plan, guard } : plan);
  }

  /**
   * A batch formed earlier goes again as it was formed (a retry; a resend after a restart): as
   * cards only if every event in it is a card's now (a route's layout may have changed since). A
   * flood summary is drawn again from its rows alone: its bodies (thousands) are never read.
   */
  private async again(channelId: ChannelId, queued: QueuedJob[], now: number): Promise<Plan> {
    const { db } = this.deps;
    const head = queued[0]!;
    if (head.summary) return claimPlan(db, await summaryPlan(db, channelId, head.batchId!, queued, now));
    const batch = await jobsOf(db, seqsOf(queued));
    if (batch.every(isCardJob)) return this.deps.cards.planBatch(channelId, batch, now);
    const { parts, guard } = await this.render(batch);
    const plan = sendPlan(channelId, head.batchId!, batch, parts, await silentSend(db, levelled(batch, parts), now));
    return claimPlan(db, guard ? { ...plan, guard } : plan);
  }

  /**
   * Each delivery drawn with the template that applies on its route (looked up once per route and
   * event type), and its pings (its route's when the event calls for one, its alert rule's); giving
   * way to webhooks between drawings. A member's DM (always alone) is drawn as a DM, with its guard.
   */
  private async render(jobs: readonly Job[]): Promise<{ parts: RenderedEvent[]; guard?: SendGuard }> {
    const routes = await routesByIds(this.deps.db, [...new Set(jobs.map((j) => j.routeId))]);
    const dm = routes.get(jobs[0]!.routeId);
    if (dm?.kind === 'dm') {
      const job = jobs[0]!;
      return { parts: [await this.deps.directMessages.draw(job, dm)], guard: this.deps.directMessages.guard(dm, job) };
    }
    const templates = new Map<string, Awaited<ReturnType<typeof templateFor>>>();
    const parts: RenderedEvent[] = [];
    for (const job of jobs) {
      const key = `${job.routeId}:${job.eventType}`;
      if (!templates.has(key)) templates.set(key, await templateFor(this.deps.db, job.sourceId, job.routeId, job.eventType));
      await letIngestIn();
      const part = renderEvent(job, templates.get(key));
      parts.push(
        withPing(part, routes.get(job.routeId), await acceptedAlertRole(this.deps.db, job.sourceId, part.alert, job.routeId), job.muted),
      );
    }
    return { parts };
  }
}
