import type { Database } from '../db/database.js';
import type { MessageId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { CardUpdatePlan } from './card-plan.js';
import type { CardUpdater } from './card-update.js';
import type { Clock } from './clock.js';
import type { Recorder, Attempt } from './record.js';
import type { DiscordChannels } from './sender.js';
import type { SendPlan } from './plan.js';
import { Undeliverable } from './classify-error.js';

export interface SendDeps {
  db: Database;
  discord: DiscordChannels;
  logger: Logger;
  clock: Clock;
  recorder: Recorder;
  cards: CardUpdater;
}

/**
 * Carries out one planned send, claimed for its channel by the planner (see claim.ts): makes the
 * request (a message, or a card's edit), and records what became of it. The caller holds the
 * channel meanwhile.
 *
 * Exactly once, as far as possible: a batch has its id (its Discord nonce, sent with
 * enforce_nonce) in the database before the send. If the process dies after Discord posted but
 * before the record committed, the restart resends the same events under the same nonce, and
 * Discord answers with the message it already has instead of posting twice.
 */
export async function send(deps: SendDeps, attempt: Attempt): Promise<void> {
  if (attempt.batch.length === 0) return;
  const started = deps.clock.now();
  let made: Made | 'told elsewhere' | 'wait';
  try {
    made = attempt.kind === 'send' ? await post(deps, attempt) : await edit(deps, attempt);
  } catch (error) {
    await deps.recorder.failed(attempt, error);
    return;
  }
  if (made === 'told elsewhere') return deps.recorder.toldElsewhere(attempt);
  if (made === 'wait') return deps.recorder.waitForClaimer(attempt);
  await deps.recorder.delivered(attempt, made.messageId, started, made.alsoRecord);
}

/** What a request made: its message, and what else to record with it. */
interface Made {
  messageId: MessageId;
  alsoRecord?: (tx: Database) => Promise<void>;
}

/**
 * A message posted. A member's DM is checked first (refused for good when it cannot go), then
 * claims its Sentry change: another source's copy of it that claimed first tells the member instead
 * (or, while that copy is still on its way, this one waits: it goes if that one fails for good).
 */
async function post(deps: SendDeps, plan: SendPlan): Promise<Made | 'told elsewhere' | 'wait'> {
  const { embeds, batchId, content, allowedRoleIds, components, record, silent, guard } = plan;
  if (guard) {
    const refusal = await guard.before();
    if (refusal !== undefined) throw new Undeliverable(refusal);
    const claimed = await guard.claim();
    if (claimed === 'told') return 'told elsewhere';
    if (claimed === 'wait') return 'wait';
  }
  const messageId = (await deps.discord.post(plan.channelId, { embeds, nonce: batchId, content, allowedRoleIds, components, silent })).id;
  return { messageId, ...(record ? { alsoRecord: (tx: Database) => record(tx, messageId, deps.clock.now()) } : {}) };
}

/** A card's message edited (or posted anew), by the card updater. */
async function edit(deps: SendDeps, plan: CardUpdatePlan): Promise<Made> {
  const done = await deps.cards.carryOut(plan);
  return { messageId: done.messageId, alsoRecord: (tx) => done.record(tx, deps.clock.now()) };
}
