import { z } from 'zod';
import { humanize } from '../embed/text.js';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { loose, optIdish, optString, parseLoose } from '../sentry/loose-schema.js';
import { unresolvedNeedsEyes } from './attention.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';
import { assigneeActor, assigneeName, fromIssue } from './issue-fields.js';
import { clearedIn, withoutStatus } from './standing.js';
import { keptArchive } from './archive.js';

const Assignee = loose({ type: optString, name: optString, id: optIdish });
const IssuePayload = z.looseObject({ data: loose({ issue: IssueSchema, resolution_type: optString, assignee: Assignee }) });

const rawIssueOf = (payload: unknown): unknown => (payload as { data?: { issue?: unknown } } | null)?.data?.issue;

/** Sentry's `issue.*` webhooks (created, resolved, assigned, archived, unresolved…): the issue as it is now. */
export function foldIssue(prev: CardState | undefined, action: string, payload: unknown): CardStep {
  const step = issueChange(prev, action, payload);
  const { archive, clear } = keptArchive(prev, step.update);
  return {
    ...step,
    update: { ...step.update, archive },
    clear: [...clearedIn(rawIssueOf(payload)), ...(step.clear ?? []), ...(clear ? (['archive'] as const) : [])],
    ...(unresolvedNeedsEyes(action) ? { attention: true } : {}),
  };
}

function issueChange(prev: CardState | undefined, action: string, payload: unknown): CardStep {
  const { data } = parseLoose(IssuePayload, payload);
  const issue = data?.issue ?? {};
  const update = fromIssue(issue, action === 'resolved' ? data?.resolution_type : undefined);
  switch (action) {
    case 'created':
      return { update, line: 'New issue' };
    case 'resolved': {
      const words = update.resolution;
      return {
        update: { ...update, status: 'resolved' },
        clear: ['substatus', ...(words ? [] : (['resolution'] as const))],
        line: `Resolved${words ? ` ${words}` : ''}`,
        effect: { status: 'resolved' },
      };
    }
    case 'assigned': {
      // `data.assignee` names who it was given to (its id a number); older payloads only have the issue's assignedTo.
      const who = assigneeName(data?.assignee) ?? update.assignee;
      const id = assigneeActor(data?.assignee) ?? update.assigneeId;
      return {
        update: { ...withoutStatus(prev, update), assignee: who, assigneeId: id },
        line: who ? `Assigned to ${who}` : 'Assigned',
        effect: id ? { assignee: id } : undefined,
      };
    }
    case 'ignored':
    case 'archived':
      return {
        update: { ...update, status: update.status ?? 'ignored' },
        clear: ['resolution'],
        line: 'Archived',
        effect: { status: 'ignored', substatus: update.substatus },
      };
    case 'unresolved':
      return {
        update: { ...update, status: 'unresolved' },
        clear: ['resolution'],
        line: `Unresolved again${update.substatus ? ` (${update.substatus})` : ''}`,
        effect: { status: 'unresolved', substatus: update.substatus },
      };
    case 'deleted':
      return { update, line: 'Deleted in Sentry' };
    default:
      return { update, line: humanize(action) ?? action };
  }
}
