import { z } from 'zod';
import type { Formatter } from './types.js';
import { field, fields, footer, inlineCode, isoTime, levelColor, link, loose, oneLine, parseLoose } from './parts.js';
import { eventTitle, exceptionOf, projectOf, SentryEventSchema, tagOf } from './sentry-event.js';

const Payload = z.looseObject({ data: loose({ error: SentryEventSchema }) });

export const errorFormatter: Formatter = (event) => {
  const error = parseLoose(Payload, event.payload).data?.error ?? {};
  const exception = exceptionOf(error);
  const title = exception.type ? [exception.type, exception.value].filter(Boolean).join(': ') : eventTitle(error);
  return {
    author: { name: 'New error event' },
    title: title || 'Error',
    url: error.web_url,
    description: [inlineCode(error.culprit), error.title && error.title !== title ? oneLine(error.title) : undefined]
      .filter(Boolean)
      .join('\n'),
    color: levelColor(error.level ?? tagOf(error, 'level')),
    fields: fields(
      field('Exception', inlineCode(exception.type)),
      field('Level', error.level ?? tagOf(error, 'level')),
      field('Platform', error.platform),
      field('Environment', error.environment ?? tagOf(error, 'environment')),
      field('Release', inlineCode(error.release ?? tagOf(error, 'release'))),
      field('Issue', link(`Issue ${error.issue_id ?? ''}`.trim(), error.web_url) ?? error.issue_id),
    ),
    footer: footer(event.type, projectOf(error)),
    timestamp: isoTime(error.datetime, error.timestamp),
  };
};
