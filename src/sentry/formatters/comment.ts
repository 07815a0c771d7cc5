import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { field, textField } from '../../embed/fields.js';
import { oneLine, prose } from '../../embed/markdown.js';
import { isoTime } from '../../embed/time.js';
import { loose, optIdish, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

const Payload = z.looseObject({
  data: loose({ comment: optString, comment_id: optIdish, issue_id: optIdish, project_slug: optString, timestamp: optString }),
  actor: loose({ type: optString, name: optString }),
});

const VERBS: Record<string, string> = { created: 'commented', updated: 'edited a comment', deleted: 'deleted a comment' };

/** Comments carry no issue title, only its id. */
export const commentFormatter: Formatter = (event) => {
  const { data, actor } = parseLoose(Payload, event.payload);
  const who = oneLine(actor?.name) ?? 'Someone';
  const issue = data?.issue_id;
  const text = prose(data?.comment);
  const verb = VERBS[event.action] ?? event.action;
  return new LimitedEmbedBuilder()
    .setAuthor({ name: `${actor?.name?.replace(/\s+/g, ' ') ?? 'Someone'} ${verb}` })
    .setTitle(issue ? oneLine(`Comment on issue ${issue}`) : 'Comment')
    .setDescription(
      text
        ? text
            .split('\n')
            .map((line) => `> ${line}`)
            .join('\n')
        : `${who} ${verb}`,
    )
    .setColor(event.action === 'deleted' ? COLORS.gray : COLORS.blue)
    .addFields(textField('Issue', issue), field('Project', oneLine(data?.project_slug)), field('Author', who))
    .setTimestamp(isoTime(data?.timestamp));
};
