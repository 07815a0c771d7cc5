import type { Database } from '../db/database.js';
import type { MessageId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { CardUpdater } from './card-update.js';
import type { Clock } from './clock.js';
import type { Recorder, Attempt } from './record.js';
import type { DiscordChannels } from './sender.js';
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
  let messageId: MessageId;
  let alsoRecord: ((tx: Database) => Promise<void>) | undefined;
  try {
    if (attempt.kind === 'send') {
      const { embeds, batchId, content, allowedRoleIds, components, record, silent, guard } = attempt;
      const refusal = await guard?.before();
      if (refusal !== undefined) throw new Undeliverable(refusal);
      messageId = (await deps.discord.post(attempt.channelId, { embeds, nonce: batchId, content, allowedRoleIds, components, silent })).id;
      alsoRecord = record ? (tx) => record(tx, messageId, deps.clock.now()) : undefined;
    } else {
      const done = await deps.cards.carryOut(attempt);
      messageId = done.messageId;
      alsoRecord = (tx) => done.record(tx, deps.clock.now());
    }
  } catch (error) {
    await deps.recorder.failed(attempt, error);
    return;
  }
  await deps.recorder.delivered(attempt, messageId, started, alsoRecord);
}
