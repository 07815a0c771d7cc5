import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { levelColor } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { inlineCode, link, oneLine } from '../../embed/markdown.js';
import { isoTime } from '../../embed/time.js';
import { loose, parseLoose } from '../loose-schema.js';
import { eventTitle, exceptionOf, SentryEventSchema, tagOf } from './sentry-event.js';
import type { Formatter } from './types.js';

const Payload = z.looseObject({ data: loose({ error: SentryEventSchema }) });

export const errorFormatter: Formatter = (event) => {
  const error = parseLoose(Payload, event.payload).data?.error ?? {};
  const exception = exceptionOf(error);
  const title = exception.type ? [exception.type, exception.value].filter(Boolean).join(': ') : eventTitle(error);
  return new LimitedEmbedBuilder()
    .setAuthor({ name: 'New error event' })
    .setTitle(oneLine(title) ?? 'Error')
    .setURL(error.web_url)
    .setDescription(
      [inlineCode(error.culprit), error.title && error.title !== title ? oneLine(error.title) : undefined].filter(Boolean).join('\n'),
    )
    .setColor(levelColor(error.level ?? tagOf(error, 'level')))
    .addFields(
      field('Exception', inlineCode(exception.type)),
      textField('Level', error.level ?? tagOf(error, 'level')),
      textField('Platform', error.platform),
      textField('Environment', error.environment ?? tagOf(error, 'environment')),
      field('Release', inlineCode(error.release ?? tagOf(error, 'release'))),
      field('Issue', link(`Issue ${error.issue_id ?? ''}`.trim(), error.web_url)) ?? textField('Issue', error.issue_id),
    )
    .setTimestamp(isoTime(error.datetime, error.timestamp));
};
