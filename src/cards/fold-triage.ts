import { z } from 'zod';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { loose, optBool, optString, parseLoose } from '../sentry/loose-schema.js';
import { archiveAsked, askedWords, changedByWords, isStatusAction, TRIAGE_ACTIONS, type StatusAction } from '../triage/actions.js';
import { keptArchive } from './archive.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';
import { actorOf } from './echo.js';
import { fromIssue } from './issue-fields.js';
import { withoutStatus } from './standing.js';

const TriageEvent = z.looseObject({
  data: loose({
    triage: loose({ kind: optString, by: optString, as: optString, assignee: optString, actor: optString, unconfirmed: optBool }),
    issue: IssueSchema,
  }),
});

type TriageData = z.output<typeof TriageEvent>['data'];

/**
 * A change made from Discord with the buttons: Sentry's answer, and who did it. When Sentry did not
 * say whether it made the change, the card shows what was asked and changes nothing else, but still
 * expects Sentry's webhook for it (within the echo window): if Sentry made it, that webhook is the
 * member's own change, not news (no line, no move down, no ping); if not, no such webhook comes,
 * and the read-back after it finds the card right.
 */
export function foldTriage(prev: CardState | undefined, payload: unknown, at: number): CardStep {
  const { data } = parseLoose(TriageEvent, payload);
  const kind = data?.triage?.kind ?? '';
  const by = data?.triage?.by ?? 'someone';
  const step = answeredTriage(prev, kind, by, data, at);
  if (!data?.triage?.unconfirmed) return step;
  const who = data.triage.assignee;
  const asked = kind === 'assign-to' ? (who ? `Assign to ${who}` : 'Unassign') : isStatusAction(kind) ? askedWords(kind) : 'A change';
  const as = data.triage.as ? ` (as ${data.triage.as})` : '';
  return { update: {}, line: `⏳ ${asked} asked by ${by}${as} from Discord; Sentry has not confirmed it`, expects: step.expects };
}

/** A change Sentry answered: the issue as Sentry returned it, and the webhook Sentry will send for it. */
function answeredTriage(prev: CardState | undefined, kind: string, by: string, data: TriageData, at: number): CardStep {
  const update = fromIssue(data?.issue ?? {});
  const whom = changedByWords(by, data?.triage?.as);
  if (kind === 'assign-to') {
    const actor = actorOf(data?.triage?.actor);
    const who = data?.triage?.assignee ?? update.assignee;
    return {
      update: { ...withoutStatus(prev, update), assignee: who, assigneeId: actor ?? update.assigneeId },
      clear: who ? [] : ['assignee', 'assigneeId'],
      line: who ? `✅ Assigned to ${who} ${whom}` : `✅ Unassigned ${whom}`,
      // Sentry sends no webhook when an issue is unassigned: nothing to wait for.
      expects: actor ? { assignee: actor, at } : undefined,
    };
  }
  if (!isStatusAction(kind)) return { update: {}, line: `✅ Changed ${whom}` };
  const action = TRIAGE_ACTIONS[kind];
  const substatus = 'substatus' in action ? action.substatus : undefined;
  const next: Partial<CardState> = {
    ...update,
    status: update.status === 'resolvedInNextRelease' ? 'resolved' : (update.status ?? action.status),
    substatus: update.substatus ?? substatus,
    resolution: update.resolution ?? (kind === 'resolve-next' ? 'in the next release' : undefined),
    archive: askedArchive(kind, update, at),
  };
  const kept = keptArchive(prev, next);
  return {
    update: { ...next, archive: kept.archive },
    // A resolved issue has no substatus; an unresolved one no resolution (unless Sentry's answer says otherwise).
    clear: [
      ...(action.status === 'resolved'
        ? ['substatus' as const, ...(kind === 'resolve' ? (['resolution'] as const) : [])]
        : (['resolution'] as const)),
      ...(kept.clear ? (['archive'] as const) : []),
    ],
    line: `✅ ${action.done} ${whom}`,
    expects: { status: action.status, ...(substatus ? { substatus } : {}), at },
  };
}

/** An archive's condition: what was asked (how long, how many events), and until when (Sentry's answer says; else from when it was asked). */
function askedArchive(kind: StatusAction, answered: Partial<CardState>, at: number): CardState['archive'] {
  const { ignoreDuration: minutes, ignoreCount: count } = archiveAsked(kind);
  if (minutes !== undefined)
    return { ...answered.archive, minutes, until: answered.archive?.until ?? new Date(at + minutes * 60_000).toISOString() };
  if (count !== undefined) return { ...answered.archive, count: answered.archive?.count ?? count };
  return answered.archive;
}
