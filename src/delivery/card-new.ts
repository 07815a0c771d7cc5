import { applyEvent, isResolved, type CardState } from '../cards/state.js';
import { cardEmbed } from '../cards/embed.js';
import { saveCard, saveCardMessage } from '../db/cards.js';
import type { Database } from '../db/database.js';
import type { Job } from '../db/queue.js';
import { routesByIds } from '../db/routes.js';
import type { Route } from '../db/schema.js';
import { sourcesConnected } from '../db/sources.js';
import { templateFor } from '../db/templates.js';
import type { BatchId, ChannelId } from '../ids.js';
import { renderEvent, type RenderedEvent } from '../render/render-event.js';
import { parsePayload } from '../sentry/payload.js';
import { cardButtons, sharedButtons } from '../triage/components.js';
import { letIngestIn } from './clock.js';
import { acceptedAlertRole, sendPlan, silentSend, withPing, type SendPlan } from './plan.js';
import { partsThatFit } from './policy.js';
import { newNonce } from './sender.js';
import { eventFacts } from '../sentry/facts.js';

/** A delivery's payload, as the card state folds it (an unreadable one folds as empty). */
export const payloadOf = (job: Job): unknown => {
  try {
    return parsePayload(job.body);
  } catch {
    return {};
  }
};

/**
 * A batch formed earlier may hold several events of one card: formed as a feed message (one
 * embed each) before its route became a card route, and sent again under its nonce. One card
 * each, its events folded in order (two drafts of one card would both be saved to one row, the
 * second's position winning, and the first embed would stay in the message as a second card).
 */
function byCard(jobs: readonly Job[]): Job[][] {
  const groups = new Map<string, Job[]>();
  for (const job of jobs) {
    const key = `${job.routeId}:${job.cardKey}`;
    const group = groups.get(key);
    if (group) group.push(job);
    else groups.set(key, [job]);
  }
  return [...groups.values()];
}

/**
 * New cards go out like any batch: several issues that appear together share a message (up to
 * 10 embeds, 6,000 characters), and a lone one goes at once. Recording the message records the
 * cards. With `batchId`, a batch formed earlier goes again as it was (a retry; a resend).
 */
export async function planNewCards(db: Database, channelId: ChannelId, jobs: Job[], now: number, batchId?: BatchId): Promise<SendPlan> {
  const routes = await routesByIds(db, [...new Set(jobs.map((j) => j.routeId))]);
  const groups = batchId ? byCard(jobs) : jobs.map((job) => [job]);
  // Sized as if shared (with a history field each); a card alone keeps its history in its thread instead.
  const drafts: Awaited<ReturnType<typeof draftNewCard>>[] = [];
  for (const group of groups) {
    await letIngestIn();
    drafts.push(await draftNewCard(db, group, routes.get(group[0]!.routeId), true));
  }
  const count = batchId ? groups.length : partsThatFit(drafts.map((d) => d.part));
  const taken = groups.slice(0, count);
  // Each card's first event, in the order of the parts (the recorder pairs part i with batch[i]: a
  // template's failure is its event's), then their other events.
  const batch = [...taken.map((group) => group[0]!), ...taken.flatMap((group) => group.slice(1))];
  const shared = count > 1;
  const final = shared ? drafts.slice(0, count) : [await draftNewCard(db, groups[0]!, routes.get(groups[0]![0]!.routeId), false)];
  const plan = sendPlan(
    channelId,
    batchId ?? newNonce(),
    batch,
    final.map((d) => d.part),
    await silentSend(
      db,
      // Each event at its own level (a fatal follow-up of a warning still notifies past quiet hours).
      final.flatMap(({ jobs: own, part }) =>
        own.map((job, i) => ({ job, level: i === 0 ? part.facts.level : eventFacts(job.eventType, payloadOf(job)).level })),
      ),
      now,
    ),
  );
  const connected = await sourcesConnected(db, [...new Set(batch.map((j) => j.sourceId))]);
  const cards = final.map(({ job, state }) => ({ routeId: job.routeId, state }));
  plan.components = shared
    ? sharedButtons(
        cards,
        final.every(({ job }) => connected.has(job.sourceId)),
      )
    : cardButtons(cards[0]!.state, { routeId: cards[0]!.routeId, connected: connected.has(final[0]!.job.sourceId) });
  plan.record = async (tx, messageId, at) => {
    await saveCardMessage(
      tx,
      { messageId, channelId, embeds: plan.embeds, content: plan.content ?? null, components: plan.components ?? [] },
      at,
    );
    for (const [position, { job, state }] of final.entries()) {
      await saveCard(tx, {
        routeId: job.routeId,
        cardKey: job.cardKey!,
        channelId,
        messageId,
        position,
        shared,
        threadId: null,
        state: JSON.stringify(state),
        postedAt: at,
        lastEditAt: at,
        updatedAt: at,
        resolvedAt: isResolved(state) ? at : null,
      });
    }
  };
  return plan;
}

/**
 * A new card's part of a message: the card (or the embed its template makes for its first event,
 * which replaces the card for that event), and its route's ping. After Discord refused it twice,
 * the generic embed. `jobs` are the card's events in this batch, folded in order.
 */
async function draftNewCard(
  db: Database,
  jobs: readonly Job[],
  route: Route | undefined,
  history: boolean,
): Promise<{ job: Job; jobs: readonly Job[]; state: CardState; part: RenderedEvent }> {
  const job = jobs[0]!;
  let state: CardState | undefined;
  for (const each of jobs)
    ({ state } = applyEvent(state, {
      type: each.eventType,
      payload: payloadOf(each),
      key: each.cardKey!,
      at: each.receivedAt,
      routeId: each.routeId,
    }));
  const rendered = renderEvent(job, await templateFor(db, job.sourceId, job.routeId, job.eventType));
  const own = rendered.templatePattern !== undefined || job.renderFallback >= 2;
  const embed = own ? rendered.embeds[0]! : cardEmbed(state!, { history });
  const alertRole = await acceptedAlertRole(db, job.sourceId, rendered.alert, job.routeId);
  return { job, jobs, state: state!, part: withPing({ ...rendered, embeds: [embed] }, route, alertRole, job.muted) };
}
