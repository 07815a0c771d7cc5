import { z } from 'zod';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { statusWords } from '../sentry/issue-status.js';
import { loose, parseLoose } from '../sentry/loose-schema.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';
import { fromIssue } from './issue-fields.js';
import { clearedIn } from './standing.js';
import { keptArchive } from './archive.js';
import { drift, syncLine } from './sync.js';

const SyncEvent = z.looseObject({ data: loose({ issue: z.unknown(), readAt: z.number().optional().catch(undefined) }) });

/** Sentry's API answer for the issue (a read-back): what differs from the card is set right, with one line saying what. */
export function foldSync(prev: CardState | undefined, payload: unknown): CardStep {
  const { issue: raw, readAt } = parseLoose(SyncEvent, payload).data ?? {};
  // The answer is Sentry's issue as of some moment after its read began, and it is applied after
  // everything stored while Sentry was answering. If the card has since learned where the issue
  // stands from an event received after the read began, the answer may be the older of the two,
  // and which parts of it are cannot be told: it is dropped whole, with no line. Whatever is still
  // wrong is set right by the next read-back, which begins after that event.
  if (prev && readAt !== undefined && prev.standingAsOf !== undefined && prev.standingAsOf >= readAt) {
    return { update: {}, line: syncLine([]), quiet: true };
  }
  const issue = parseLoose(IssueSchema, raw);
  const read = fromIssue(issue);
  const kept = keptArchive(prev, read);
  const update = { ...read, archive: kept.archive };
  // A card that does not exist yet (it was removed since) starts from Sentry's answer.
  const words = prev ? drift(prev, raw) : [statusWords(update.status, update.substatus, update.resolution) ?? 'read'];
  return {
    update,
    clear: [
      ...clearedIn(raw),
      ...(update.status === 'resolved' ? [] : (['resolution'] as const)),
      ...(kept.clear ? (['archive'] as const) : []),
    ],
    line: syncLine(words),
    // Already right (a webhook came in between): the card takes Sentry's counts, with no line.
    quiet: prev !== undefined && words.length === 0,
    ...(readAt !== undefined ? { asOf: readAt } : {}),
  };
}
