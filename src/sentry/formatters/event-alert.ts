import { z } from 'zod';
import type { Formatter } from './types.js';
import { COLORS, field, fields, footer, inlineCode, isoTime, link, loose, oneLine, optString, parseLoose } from './parts.js';
import { eventTitle, projectOf, SentryEventSchema, tagOf } from './sentry-event.js';

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
  return {
    author: { name: rule ? `Alert: ${rule}` : 'Issue alert triggered' },
    title: eventTitle(error) ?? 'Issue alert triggered',
    url: error.web_url,
    description: inlineCode(error.culprit),
    color: COLORS.orange,
    fields: fields(
      field('Alert rule', oneLine(rule)),
      field('Level', error.level ?? tagOf(error, 'level')),
      field('Environment', error.environment ?? tagOf(error, 'environment')),
      field('Release', inlineCode(error.release ?? undefined)),
      field('Issue', link(`Issue ${error.issue_id ?? ''}`.trim(), error.web_url) ?? error.issue_id),
    ),
    footer: footer(event.type, projectOf(error)),
    timestamp: isoTime(error.datetime, error.timestamp),
  };
};
