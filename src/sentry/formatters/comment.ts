import { z } from 'zod';
import type { Formatter } from './types.js';
import { COLORS, field, fields, footer, isoTime, loose, oneLine, optIdish, optString, parseLoose, prose } from './parts.js';

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
  return {
    author: { name: `${actor?.name?.replace(/\s+/g, ' ') ?? 'Someone'} ${VERBS[event.action] ?? event.action}` },
    title: issue ? `Comment on issue ${issue}` : 'Comment',
    description: text
      ? text
          .split('\n')
          .map((line) => `> ${line}`)
          .join('\n')
      : `${who} ${VERBS[event.action] ?? event.action}`,
    color: event.action === 'deleted' ? COLORS.gray : COLORS.blue,
    fields: fields(field('Issue', issue), field('Project', oneLine(data?.project_slug)), field('Author', who)),
    footer: footer(event.type, data?.project_slug),
    timestamp: isoTime(data?.timestamp),
  };
};
