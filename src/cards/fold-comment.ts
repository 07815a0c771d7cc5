import { z } from 'zod';
import { loose, optString, parseLoose } from '../sentry/loose-schema.js';
import type { CardStep } from './card-step.js';

const CommentPayload = z.looseObject({ data: loose({ comment: optString, project_slug: optString }), actor: loose({ name: optString }) });

/** How much of a comment its history line quotes (the thread shows it in full). */
const EXCERPT_CHARS = 80;

/** Sentry's `comment.*` webhooks: the latest comment on the issue, created, edited or deleted. */
export function foldComment(action: string, payload: unknown, at: number): CardStep {
  const { data, actor } = parseLoose(CommentPayload, payload);
  const author = actor?.name ?? 'Someone';
  const text = data?.comment ?? '';
  const project = data?.project_slug;
  if (action === 'deleted') {
    return { update: { project, comment: { author, text, at, deleted: true } }, line: `${author} deleted a comment` };
  }
  const excerpt = text.replace(/\s+/g, ' ').slice(0, EXCERPT_CHARS);
  return {
    update: { project, comment: { author, text, at } },
    line: `${author} ${action === 'updated' ? 'edited a comment' : 'commented'}${excerpt ? `: ${excerpt}${text.length > EXCERPT_CHARS ? '…' : ''}` : ''}`,
    detailed: text.trim() !== '',
  };
}
