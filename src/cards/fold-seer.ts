import { seerStage, seerSummary } from '../sentry/formatters/seer.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';

/** Sentry's `seer.*` webhooks: the stage Seer's run reached, and what each completed stage produced. */
export function foldSeer(prev: CardState | undefined, action: string, payload: unknown): CardStep {
  const { stage, of, label } = seerStage(action);
  const produced = seerSummary(action, payload);
  const before = prev?.seer;
  return {
    // The latest of each kind: a new root cause replaces the old one, a solution stays until the next.
    update: { seer: { ...before, ...produced, stage, of, label, links: before?.links ?? [] } },
    line: `Seer: ${label}${stage > 0 ? ` (${stage}/${of})` : ''}`,
    detailed: /_completed$|^pr_created$/.test(action),
  };
}
