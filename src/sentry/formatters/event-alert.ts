import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { inlineCode, link, oneLine } from '../../embed/markdown.js';
import { isoTime } from '../../embed/time.js';
import { loose, optString, parseLoose } from '../loose-schema.js';
import { eventTitle, SentryEventSchema, tagOf } from './sentry-event.js';
import type { Formatter } from './types.js';

const Payload = z.looseObject({
  data: loose({
    event: SentryEventSchema,
    triggered_rule: optString,
    issue_alert: loose({ title: optString }),
  }),
});

/** An issue alert rule fired: which rule, on which error. */
export const eventAlertFormatter: Formatter = (event) => {
  const { data } = parseLoose(Payload, event.payload);
  const error = data?.event ?? {};
  const rule = data?.triggered_rule ?? data?.issue_alert?.title;
  return new LimitedEmbedBuilder()
    .setAuthor({ name: rule ? `Alert: ${rule}` : 'Issue alert triggered' })
    .setTitle(oneLine(eventTitle(error)) ?? 'Issue alert triggered')
    .setURL(error.web_url)
    .setDescription(inlineCode(error.culprit))
    .setColor(COLORS.orange)
    .addFields(
      field('Alert rule', oneLine(rule)),
      textField('Level', error.level ?? tagOf(error, 'level')),
      textField('Environment', error.environment ?? tagOf(error, 'environment')),
      field('Release', inlineCode(error.release ?? undefined)),
      field('Issue', link(`Issue ${error.issue_id ?? ''}`.trim(), error.web_url)) ?? textField('Issue', error.issue_id),
    )
    .setTimestamp(isoTime(error.datetime, error.timestamp));
};
