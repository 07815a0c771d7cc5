import { z } from 'zod';
import { humanize } from '../embed/text.js';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { loose, optString, parseLoose } from '../sentry/loose-schema.js';
import { activityNeedsEyes } from './attention.js';
import type { CardState } from './card-state.js';
import type { CardStep } from './card-step.js';
import { fromIssue } from './issue-fields.js';

const ActivityPayload = z.looseObject({
  data: loose({
    issue: IssueSchema,
    activity: loose({ type: optString, details: loose({ summary: optString }) }),
    alert: loose({ title: optString }),
  }),
});

/** An activity alert (`activity_alert.triggered`): a Seer result, an escalation…, with its summary and the rule that sent it. */
export function foldActivity(prev: CardState | undefined, payload: unknown, at: number): CardStep {
  const { data } = parseLoose(ActivityPayload, payload);
  const type = data?.activity?.type ?? 'activity';
  const label = humanize(type.replace(/^seer_/, 'Seer ')) ?? type;
  const rule = data?.alert?.title;
  const summary = data?.activity?.details?.summary;
  return {
    update: {
      ...fromIssue(data?.issue ?? {}),
      ...(rule ? { alert: { rule, times: (prev?.alert?.times ?? 0) + 1, at } } : {}),
      activity: { label, ...(summary ? { summary } : {}), at },
    },
    line: `${label}${rule ? ` (alert "${rule}")` : ''}`,
    attention: activityNeedsEyes(type),
    detailed: summary !== undefined && summary.trim() !== '',
  };
}
