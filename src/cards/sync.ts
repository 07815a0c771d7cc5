import { IssueSchema } from '../sentry/formatters/issue.js';
import { isArchived, statusWords } from '../sentry/issue-status.js';
import { parseLoose } from '../sentry/loose-schema.js';
import { sameActor } from './echo.js';
import { fromIssue } from './issue-fields.js';
import type { CardState } from './card-state.js';
import { ownEventType } from '../own-events.js';

/**
 * The event under which what Sentry's API says of an issue is delivered to its card, when it
 * differs from what the card shows: after a webhook Dispatch never received (it was down, Sentry
 * resolved the issue with a release) or a change whose answer never came. It goes through the
 * card's queue like any event, so it is ordered with Sentry's webhooks and survives a restart.
 */
export const SYNC_EVENT_TYPE = ownEventType('sync');

export interface SyncPayload {
  action: 'sync';
  data: {
    /** Sentry's API answer for the issue. */
    issue: Record<string, unknown>;
    /** `reconcile`: the periodic read-back; `check`: the read after a change Sentry did not confirm. */
    reason: 'reconcile' | 'check';
    /** When the read began: the answer is Sentry's issue as of then or later (absent from before this was kept). */
    readAt?: number;
  };
}

const sameStatus = (a: string | undefined, b: string | undefined) => (isArchived(a) && isArchived(b)) || a === b;

/** `team Backend` and `#backend` and `backend` are one team to a card that never learned its id. */
const looseName = (name: string | undefined) =>
  name
    ?.replace(/^(team |#)/, '')
    .trim()
    .toLowerCase();

/**
 * Where the card differs from Sentry's issue, in words ("resolved in the next release", "assigned
 * to Alice", "unassigned"); empty when it shows what Sentry has. Compares what triage and
 * reconciliation are about: status, substatus and the assignee (by Sentry id when the card knows it).
 */
export function drift(state: CardState, rawIssue: unknown): string[] {
  const issue = parseLoose(IssueSchema, rawIssue);
  const now = fromIssue(issue);
  const out: string[] = [];
  const substatusMoved = now.substatus !== undefined && now.substatus !== state.substatus && now.status !== 'resolved';
  if (now.status !== undefined && (!sameStatus(now.status, state.status) || substatusMoved)) {
    out.push(statusWords(now.status, now.substatus, now.resolution)!);
  }
  const unassigned = (rawIssue as { assignedTo?: unknown } | null)?.assignedTo === null;
  if (unassigned && state.assignee !== undefined) out.push('unassigned');
  else if (now.assigneeId !== undefined) {
    const differs = state.assigneeId ? !sameActor(state.assigneeId, now.assigneeId) : looseName(state.assignee) !== looseName(now.assignee);
    if (differs) out.push(`assigned to ${now.assignee ?? `${now.assigneeId.type} ${now.assigneeId.id}`}`);
  }
  return out;
}

export const syncLine = (words: readonly string[]) => `Synced from Sentry: ${words.join(', ')}`;
