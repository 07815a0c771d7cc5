import { issueUrl, type Issue } from '../sentry/formatters/issue.js';
import { isArchived, resolutionWords } from '../sentry/issue-status.js';
import { archiveOf } from './archive.js';
import { actorOf, type Actor } from './echo.js';
import type { CardState } from './card-state.js';

/** A Sentry user or team as a card names it: `Alice`, `team Backend`. */
export function assigneeName(assignee: { type?: string; name?: string } | undefined): string | undefined {
  if (!assignee?.name) return undefined;
  return assignee.type === 'team' ? `team ${assignee.name}` : assignee.name;
}

/** Sentry's id of an assignee (`{ type: 'user', id: 501 }` in webhooks, `"501"` in the API). */
export function assigneeActor(assignee: { type?: string; id?: string } | undefined): Actor | undefined {
  return assignee?.type && assignee.id !== undefined ? actorOf(`${assignee.type}:${assignee.id}`) : undefined;
}

/** What an issue (a webhook's `data.issue`, or Sentry's API answer) says about the card. */
export function fromIssue(issue: Issue, resolutionType?: string): Partial<CardState> {
  return {
    title: issue.title ?? issue.metadata?.title ?? ([issue.metadata?.type, issue.metadata?.value].filter(Boolean).join(': ') || undefined),
    url: issueUrl(issue),
    shortId: issue.shortId,
    project: issue.project?.slug ?? issue.project?.name,
    culprit: issue.culprit,
    level: issue.level,
    status: issue.status,
    substatus: issue.substatus,
    resolution: issue.status === 'resolved' || resolutionType ? resolutionWords(resolutionType, issue.statusDetails) : undefined,
    archive: isArchived(issue.status) ? archiveOf(issue.statusDetails) : undefined,
    priority: issue.priority,
    count: issue.count,
    userCount: issue.userCount,
    firstSeen: issue.firstSeen,
    lastSeen: issue.lastSeen,
    assignee: assigneeName(issue.assignedTo),
    assigneeId: assigneeActor(issue.assignedTo),
  };
}
