import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS, levelColor } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { inlineCode, oneLine } from '../../embed/markdown.js';
import { humanize } from '../../embed/text.js';
import { discordTimestamp, isoTime } from '../../embed/time.js';
import { loose, optIdish, optNumberish, optString, parseLoose } from '../loose-schema.js';
import { resolutionWords, StatusDetailsSchema, statusWords } from '../issue-status.js';
import type { Formatter } from './types.js';

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
  statusDetails: StatusDetailsSchema,
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

function assigneeText(assignee: { type?: string; name?: string } | undefined): string | undefined {
  if (!assignee?.name) return undefined;
  return assignee.type === 'team' ? `team ${oneLine(assignee.name)}` : oneLine(assignee.name);
}

/** Level, status and priority: where an issue stands, in every embed about an issue. */
export function issueStateFields(issue: Issue, resolutionType?: string) {
  return [
    textField('Level', issue.level),
    textField('Status', statusWords(issue.status, issue.substatus ?? undefined, resolutionWords(resolutionType, issue.statusDetails))),
    textField('Priority', issue.priority),
  ];
}

/** Where it stands, how often it happened and when: the facts every issue embed shares. */
function issueFacts(issue: Issue, resolutionType: string | undefined) {
  return [
    ...issueStateFields(issue, resolutionType),
    textField('Events', issue.count),
    textField('Users', issue.userCount),
    field('First seen', discordTimestamp(issue.firstSeen)),
    field('Last seen', discordTimestamp(issue.lastSeen)),
  ];
}

export const issueFormatter: Formatter = (event) => {
  const { data } = parseLoose(Payload, event.payload);
  const issue: Issue = data?.issue ?? {};
  const label = ACTION_LABELS[event.action] ?? humanize(event.action) ?? 'Issue';
  const title = issue.title ?? issue.metadata?.title ?? [issue.metadata?.type, issue.metadata?.value].filter(Boolean).join(': ');
  const assignee = assigneeText(data?.assignee ?? issue.assignedTo);
  return new LimitedEmbedBuilder()
    .setAuthor({ name: [label, issue.shortId].filter(Boolean).join(' · ') })
    .setTitle(oneLine(title) ?? 'Untitled issue')
    .setURL(issueUrl(issue))
    .setDescription(inlineCode(issue.culprit))
    .setColor(issueColor(event.action, issue.level))
    .addFields(
      event.action === 'assigned' ? field('Assigned to', assignee ?? 'nobody', false) : undefined,
      ...issueFacts(event.action === 'resolved' ? { ...issue, status: 'resolved' } : issue, data?.resolution_type),
    )
    .setTimestamp(isoTime(event.action === 'created' ? issue.firstSeen : undefined, issue.lastSeen, issue.firstSeen));
};
