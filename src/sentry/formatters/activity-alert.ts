import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { levelColor } from '../../embed/colors.js';
import { field } from '../../embed/fields.js';
import { inlineCode, link, oneLine, prose } from '../../embed/markdown.js';
import { humanize } from '../../embed/text.js';
import { isoTime } from '../../embed/time.js';
import { loose, optIdish, optString, parseLoose } from '../loose-schema.js';
import { IssueSchema, issueStateFields, issueUrl } from './issue.js';
import type { Formatter } from './types.js';

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
  return new LimitedEmbedBuilder()
    .setAuthor({ name: data?.alert?.title ? `Alert: ${data.alert.title}` : 'Activity alert' })
    .setTitle(oneLine(`${activity}: ${issue.shortId ?? issue.title ?? 'issue'}`))
    .setURL(data?.alert?.url ?? data?.alert?.web_url ?? issueUrl(issue))
    .setDescription([prose(data?.activity?.details?.summary), inlineCode(issue.culprit)].filter(Boolean).join('\n'))
    .setColor(levelColor(issue.level))
    .addFields(
      field('Issue', link(`${issue.shortId ?? issue.id ?? 'issue'}: ${issue.title ?? ''}`, issueUrl(issue)) ?? oneLine(issue.title), false),
      ...issueStateFields(issue),
    )
    .setTimestamp(isoTime(issue.lastSeen));
};
