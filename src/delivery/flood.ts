import type { APIEmbed } from 'discord.js';
import type { Database } from '../db/database.js';
import { claim, release } from '../db/delivery-state/index.js';
import { collapsible, examplesOf, groupsOf, type CollapsedRow } from '../db/flood-queue.js';
import { queuedInBatch, seqsOf, waitingOfRoute, type QueuedJob } from '../db/queue.js';
import type { BatchId, ChannelId } from '../ids.js';
import type { Logger } from '../logger.js';
import { renderEvent } from '../render/render-event.js';
import { floodSummaryEmbed } from './flood-summary.js';
import { quietNow, type SendPlan } from './plan.js';
import { routesByIds } from '../db/routes.js';
import { isFlooding, partsThatFit, type FloodSettings } from './policy.js';
import { newNonce } from './sender.js';

export interface FloodDeps {
  db: Database;
  logger: Logger;
  flood: FloodSettings;
}

/**
 * At most this many waiting events are counted in one summary message: a backlog of any size is
 * collapsed a bounded step at a time (each step one message and a few milliseconds of database work).
 * The sender holds the summary's batch as rows (about 6 KB of heap each while read): 5,000 took
 * `npm start`'s process past 150 MB of RSS (test/large/crash-loop.test.ts), and 2,000 did too on a
 * loaded machine when a restart's summaries overlapped its start-up (151–153 MB; 1,000: 129–138).
 */
export const SUMMARY_MAX_EVENTS = 1000;
/** Titles of the latest few events of each type are shown; their bodies are the only ones a summary reads. */
const EXAMPLES = 3;

/**
 * Only when a route's backlog is past reading (see `isFlooding`): the oldest waiting deliveries of
 * the head's route — that route's only, whatever else waits in the channel — up to
 * `SUMMARY_MAX_EVENTS`, counted in a summary embed per type, as many types as one message holds
 * (10 embeds, 6,000 characters). Chosen from metadata (no body is read to choose), drawn, then
 * claimed as a batch; a resend after a crash draws the same message from the batch alone.
 * Undefined when the head's route is not flooding. The plan is claimed.
 */
export async function floodPlan(deps: FloodDeps, head: QueuedJob, now: number): Promise<SendPlan | { waitUntil: number } | undefined> {
  const { db, flood } = deps;
  // Card routes do not flood: events about one issue become one edit, however many there are.
  if (head.layout === 'card' || head.solo || now - head.receivedAt <= flood.afterMs) return undefined;
  const waiting = await waitingOfRoute(db, head.routeId, 'pending', flood.threshold + 1);
  if (!isFlooding({ waiting, oldestReceivedAt: head.receivedAt }, now, flood)) return undefined;
  const candidates = await collapsible(db, head.routeId, SUMMARY_MAX_EVENTS);
  const drawn = await drawSummary(db, candidates);
  const chosen = candidates.filter((row) => drawn.types.has(row.eventType));
  if (chosen.length === 0) return undefined;
  const batchId = newNonce();
  const claimed = await claim(db, seqsOf(chosen), { batchId, channelId: head.channelId, summary: true });
  if (claimed < chosen.length) {
    // Some of them went meanwhile (the route moved, its source was disabled): plan again.
    await release(db, batchId);
    return { waitUntil: now };
  }
  deps.logger.warn(
    { source_id: head.sourceId, route_id: head.routeId, collapsed: chosen.length, embeds: drawn.embeds.length },
    'flood: collapsing waiting events into a summary',
  );
  const batch = await queuedInBatch(db, batchId);
  return {
    kind: 'send',
    channelId: head.channelId,
    batchId,
    batch,
    embeds: drawn.embeds,
    summary: true,
    parts: [],
    ...(await silence(db, batch, now)),
  };
}

/**
 * A summary counts events, it does not show them: inside its route's quiet hours it is posted
 * without a notification, whatever it counts (what passes quiet hours would have gone out alone).
 */
async function silence(db: Database, batch: readonly QueuedJob[], now: number): Promise<{ silent?: true }> {
  const routeId = batch[0]?.routeId;
  const route = routeId === undefined ? undefined : (await routesByIds(db, [routeId])).get(routeId);
  return quietNow(route, now) ? { silent: true } : {};
}

/** A summary message rebuilt from its batch alone (read without bodies), so a resend after a crash makes the same message. */
export async function summaryPlan(
  db: Database,
  channelId: ChannelId,
  batchId: BatchId,
  batch: QueuedJob[],
  now: number,
): Promise<SendPlan> {
  const { embeds } = await drawSummary(
    db,
    batch.map((job) => ({ seq: job.seq, eventSeq: job.eventSeq, eventType: job.eventType })),
  );
  return { kind: 'send', channelId, batchId, batch, embeds, summary: true, parts: [], ...(await silence(db, batch, now)) };
}

/**
 * The summary of these waiting deliveries: an embed per type in order of each type's first event,
 * as many as fit one message. Counts come from the rows; times from each type's first and last
 * event; titles from its latest few bodies, the only ones read.
 */
async function drawSummary(db: Database, rows: readonly CollapsedRow[]): Promise<{ embeds: APIEmbed[]; types: Set<string> }> {
  const embeds: APIEmbed[] = [];
  const groups = await groupsOf(db, rows);
  for (const group of groups.slice(0, 10)) {
    const latest = (await examplesOf(db, group.latestSeqs.slice(-EXAMPLES))).map((job) => renderEvent(job));
    embeds.push(
      floodSummaryEmbed({
        ...group,
        project: latest[0]?.facts.projects[0],
        examples: latest.map((part) => part.embeds[0]?.title ?? group.eventType),
      }),
    );
  }
  const fits = partsThatFit(embeds.map((embed) => ({ embeds: [embed] })));
  return { embeds: embeds.slice(0, fits), types: new Set(groups.slice(0, fits).map((g) => g.eventType)) };
}
