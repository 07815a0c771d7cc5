import type { Database } from '../db/database.js';
import { assignBatch, jobsInBatch, jobsOf, queuedForChannel, seqsOf, type Job } from '../db/queue.js';
import { routesByIds } from '../db/routes.js';
import { templateFor } from '../db/templates.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { ChannelId } from '../ids.js';
import type { Logger } from '../logger.js';
import { renderEvent, type RenderedEvent } from '../render/render-event.js';
import type { CardPlanner, CardUpdatePlan } from './card-plan.js';
import { floodPlan, summaryPlan } from './flood.js';
import { acceptedAlertRole, sendPlan, withPing, type SendPlan } from './plan.js';
import { gatheringUntil, isCardJob, joinableWithHead, partsThatFit, type FloodSettings } from './policy.js';
import { newNonce } from './sender.js';
import { letIngestIn } from './clock.js';

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
}

/**
 * Plans one channel: its head's batch if it already has one (a retry, or a resend after a crash),
 * a flood summary, a new batch, or nothing yet while a burst gathers. A head about a card on a
 * card route is the card planner's.
 */
export class ChannelPlanner {
  constructor(private readonly deps: ChannelPlannerDeps) {}

  async plan(channelId: ChannelId, now: number, options: PlanOptions = {}): Promise<Plan> {
    const { db } = this.deps;
    const pending = await queuedForChannel(db, channelId, EMBED_LIMITS.embedsPerMessage);
    const head = pending[0];
    if (!head) return { nothing: true };
    if (head.batchId) {
      // A batch already formed (a retry, a resend after a crash) goes again as it was formed: as
      // cards only if every event in it is a card's now (a route's layout may have changed since).
      const batch = await jobsInBatch(db, head.batchId);
      if (head.summary) return summaryPlan(channelId, head.batchId, batch);
      if (batch.every(isCardJob)) return this.deps.cards.plan(channelId, now, options);
      return sendPlan(channelId, head.batchId, batch, await this.render(batch));
    }
    if (isCardJob(head)) return this.deps.cards.plan(channelId, now, options);
    const flood = await floodPlan(this.deps, head, now);
    if (flood) return flood;
    const queued = joinableWithHead(pending);
    const waitUntil = options.ignoreLinger ? undefined : gatheringUntil(queued, now, this.deps.batchLingerMs);
    if (waitUntil !== undefined) return { waitUntil };
    const joinable = await jobsOf(db, seqsOf(queued));
    const parts = await this.render(joinable);
    const count = partsThatFit(parts);
    const batch = joinable.slice(0, count);
    const batchId = newNonce();
    await assignBatch(db, seqsOf(batch), batchId);
    return { ...sendPlan(channelId, batchId, batch, parts.slice(0, count)), claimed: true };
  }

  /**
   * Each delivery drawn with the template that applies on its route (looked up once per route and
   * event type), and its pings (its route's when the event calls for one, its alert rule's); giving
   * way to webhooks between drawings.
   */
  private async render(jobs: readonly Job[]): Promise<RenderedEvent[]> {
    const routes = await routesByIds(this.deps.db, [...new Set(jobs.map((j) => j.routeId))]);
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
    return parts;
  }
}
