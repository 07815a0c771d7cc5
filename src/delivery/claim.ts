import type { Database } from '../db/database.js';
import { claim, release } from '../db/delivery-state/index.js';
import { seqsOf } from '../db/queue.js';
import type { CardUpdatePlan } from './card-plan.js';
import type { SendPlan } from './plan.js';

/**
 * The last step of planning a send: its deliveries are claimed for the plan's channel under its
 * batch id (pending → sending, guarded on the route and source as they are now). If fewer are
 * claimed than planned, the batch changed since it was read (its route moved or was removed, its
 * source disabled): what was claimed is released and the channel is planned again at once. A batch
 * already being sent (a resend after a restart) has nothing to claim.
 */
export async function claimPlan<P extends SendPlan | CardUpdatePlan>(db: Database, plan: P): Promise<P | { waitUntil: number }> {
  if (plan.batch.every((job) => job.status === 'sending')) return plan;
  const claimed = await claim(db, seqsOf(plan.batch), {
    batchId: plan.batchId,
    channelId: plan.channelId,
    summary: plan.kind === 'send' && plan.summary,
  });
  if (claimed === plan.batch.length) return plan;
  await release(db, plan.batchId);
  return { waitUntil: 0 };
}
