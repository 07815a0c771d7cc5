import { z } from 'zod';
import type { Formatter } from './types.js';
import {
  field,
  fields,
  footer,
  inlineCode,
  isoTime,
  levelColor,
  link,
  loose,
  oneLine,
  optIdish,
  optString,
  parseLoose,
  prose,
} from './parts.js';
import { humanize, IssueSchema, issueUrl } from './issue.js';

const Payload = z.looseObject({
  data: loose({
    issue: IssueSchema,
    activity: loose({ type: optString, details: loose({ summary: optString }) }),
    alert: loose({ id: optIdish, title: optString, url: optString, web_url: optString }),
  }),
});

/** An activity alert (a workflow watching issue activity such as Seer results) fired. */
export const activityAlertFormatter: Formatter = (event) => {
  const { data } = parseLoose(Payload, event.payload);
  const issue = data?.issue ?? {};
  const activity = humanize(data?.activity?.type?.replace(/^seer_/, 'Seer ')) ?? 'Activity';
  return {
    author: { name: data?.alert?.title ? `Alert: ${data.alert.title}` : 'Activity alert' },
    title: `${activity}: ${issue.shortId ?? issue.title ?? 'issue'}`,
    url: data?.alert?.url ?? data?.alert?.web_url ?? issueUrl(issue),
    description: [prose(data?.activity?.details?.summary), inlineCode(issue.culprit)].filter(Boolean).join('\n'),
    color: levelColor(issue.level),
    fields: fields(
      field('Issue', link(`${issue.shortId ?? issue.id ?? 'issue'}: ${issue.title ?? ''}`, issueUrl(issue)) ?? oneLine(issue.title), false),
      field('Level', issue.level),
      field('Status', [issue.status, issue.substatus].filter(Boolean).join(' · ')),
      field('Priority', issue.priority),
    ),
    footer: footer(event.type, issue.project?.slug),
    timestamp: isoTime(issue.lastSeen),
  };
};
