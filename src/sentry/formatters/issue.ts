import { z } from 'zod';
import type { Formatter } from './types.js';
import {
  COLORS,
  discordTimestamp,
  field,
  fields,
  footer,
  inlineCode,
  isoTime,
  levelColor,
  loose,
  oneLine,
  optIdish,
  optNumberish,
  optString,
  parseLoose,
} from './parts.js';

/** The Group serializer's fields that Dispatch shows; shared with activity alerts. */
export const IssueSchema = loose({
  id: optIdish,
  shortId: optString,
  title: optString,
  culprit: optString,
  level: optString,
  status: optString,
  substatus: optString,
  priority: optString,
  count: optNumberish,
  userCount: optNumberish,
  firstSeen: optString,
  lastSeen: optString,
  web_url: optString,
  permalink: optString,
  project: loose({ slug: optString, name: optString }),
  metadata: loose({ type: optString, value: optString, title: optString }),
  assignedTo: loose({ type: optString, name: optString, id: optIdish }),
});
export type Issue = NonNullable<z.output<typeof IssueSchema>>;

const Payload = z.looseObject({
  data: loose({
    issue: IssueSchema,
    resolution_type: optString,
    assignee: loose({ type: optString, name: optString, id: optIdish }),
  }),
});

const ACTION_LABELS: Record<string, string> = {
  created: 'New issue',
  resolved: 'Resolved',
  assigned: 'Assigned',
  ignored: 'Ignored',
  archived: 'Archived',
  unresolved: 'Unresolved again',
  deleted: 'Deleted',
};

function issueColor(action: string, level: string | undefined): number {
  if (action === 'resolved') return COLORS.green;
  if (action === 'ignored' || action === 'archived' || action === 'deleted') return COLORS.gray;
  return levelColor(level);
}

export function issueUrl(issue: Issue): string | undefined {
  return issue.web_url ?? issue.permalink;
}

export function humanize(text: string | undefined): string | undefined {
  return text?.replace(/[_-]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

function assigneeText(assignee: { type?: string; name?: string } | undefined): string | undefined {
  if (!assignee?.name) return undefined;
  return assignee.type === 'team' ? `team ${oneLine(assignee.name)}` : oneLine(assignee.name);
}

/** Level, status, priority, counts and times: the facts every issue embed shares. */
export function issueFacts(issue: Issue) {
  return [
    field('Level', issue.level),
    field('Status', [issue.status, issue.substatus].filter(Boolean).join(' · ')),
    field('Priority', issue.priority),
    field('Events', issue.count),
    field('Users', issue.userCount),
    field('First seen', discordTimestamp(issue.firstSeen)),
    field('Last seen', discordTimestamp(issue.lastSeen)),
  ];
}

export const issueFormatter: Formatter = (event) => {
  const { data } = parseLoose(Payload, event.payload);
  const issue: Issue = data?.issue ?? {};
  const project = issue.project?.slug ?? issue.project?.name;
  const label = ACTION_LABELS[event.action] ?? humanize(event.action) ?? 'Issue';
  const title = issue.title ?? issue.metadata?.title ?? [issue.metadata?.type, issue.metadata?.value].filter(Boolean).join(': ');
  const assignee = assigneeText(data?.assignee ?? issue.assignedTo);
  return {
    author: { name: [label, issue.shortId].filter(Boolean).join(' · ') },
    title: title || 'Untitled issue',
    url: issueUrl(issue),
    description: inlineCode(issue.culprit),
    color: issueColor(event.action, issue.level),
    fields: fields(
      event.action === 'assigned' ? field('Assigned to', assignee ?? 'nobody', false) : undefined,
      event.action === 'resolved' ? field('Resolution', humanize(data?.resolution_type) ?? 'Resolved', false) : undefined,
      ...issueFacts(issue),
    ),
    footer: footer(event.type, project),
    timestamp: isoTime(event.action === 'created' ? issue.firstSeen : undefined, issue.lastSeen, issue.firstSeen),
  };
};
