import { z } from 'zod';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { loose, optString, parseLoose } from '../sentry/loose-schema.js';
import { keptArchive } from './archive.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';
import { fromIssue } from './issue-fields.js';
import { clearedIn } from './standing.js';

/**
 * The event under which an issue a member looked up (`/dispatch issue find post:true`) is posted as
 * a live card: Sentry's API answer for it, delivered through the card's queue like any event.
 */
export const FOUND_EVENT_TYPE = 'dispatch.found';

export interface FoundPayload {
  action: 'found';
  data: { issue: Record<string, unknown>; by: string };
}

const FoundEvent = z.looseObject({ data: loose({ issue: z.unknown(), by: optString }) });

/** The issue as Sentry has it, and who asked for its card. */
export function foldFound(prev: CardState | undefined, payload: unknown): CardStep {
  const { issue: raw, by } = parseLoose(FoundEvent, payload).data ?? {};
  const read = fromIssue(parseLoose(IssueSchema, raw));
  const kept = keptArchive(prev, read);
  return {
    update: { ...read, archive: kept.archive },
    clear: [...clearedIn(raw), ...(kept.clear ? (['archive'] as const) : [])],
    line: `Posted from Sentry by ${by ?? 'someone'}`,
  };
}
