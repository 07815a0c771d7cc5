import type { APIEmbed } from 'discord.js';
import type { Database } from '../db/database.js';
import { backlogOfRoute } from '../db/deliveries.js';
import { assignSummaryBatches, latestWaitingOfType, waitingByType } from '../db/flood-queue.js';
import { jobsInBatch, type Job, type QueuedJob } from '../db/queue.js';
import type { BatchId, ChannelId } from '../ids.js';
import type { Logger } from '../logger.js';
import { renderEvent } from '../render/render-event.js';
import { floodSummaryEmbed } from './flood-summary.js';
import type { SendPlan } from './plan.js';
import { isFlooding, partsThatFit, type FloodSettings } from './policy.js';
import { newNonce } from './sender.js';

export interface FloodDeps {
  db: Database;
  logger: Logger;
  flood: FloodSettings;
}

/**
 * Only when a route's backlog is past reading (see `isFlooding`): every waiting delivery of the
 * head's route — that route's only, whatever else waits in the channel — is counted in a summary
 * embed per type, and the summaries are packed into messages like any batch (10 embeds, 6,000
 * characters), each message a batch of its own. Undefined when the head's route is not flooding.
 */
export async function floodPlan(deps: FloodDeps, head: QueuedJob, now: number): Promise<SendPlan | undefined> {
  const { db, flood } = deps;
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
  const messages: { batchId: BatchId; eventTypes: string[] }[] = [];
  for (let start = 0; start < embeds.length; ) {
    const count = partsThatFit(embeds.slice(start).map((embed) => ({ embeds: [embed] })));
    messages.push({ batchId: newNonce(), eventTypes: groups.slice(start, start + count).map((g) => g.eventType) });
    start += count;
  }
  if (messages.length === 0) return undefined;
  await assignSummaryBatches(db, head.routeId, messages);
  const first = await jobsInBatch(db, messages[0]!.batchId);
  // Nothing was collapsed after all (the backlog went meanwhile): plan as usual rather than send an empty summary.
  if (first.length === 0) return undefined;
  const collapsed = groups.reduce((n, g) => n + g.count, 0);
  deps.logger.warn(
    { source_id: head.sourceId, route_id: head.routeId, collapsed, messages: messages.length },
    'flood: collapsing waiting events into summaries',
  );
  return summaryPlan(head.channelId, messages[0]!.batchId, first);
}

/** A summary message rebuilt from its batch alone, so a resend after a crash makes the same message. */
export function summaryPlan(channelId: ChannelId, batchId: BatchId, batch: Job[]): SendPlan {
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
