import { z } from 'zod';
import { loose, optBool, optNumberish, optString } from './loose-schema.js';

/**
 * Where an issue stands, in words: the one place that turns Sentry's status, substatus and
 * resolution into what a card and an embed say ("resolved in the next release", "archived until
 * escalating", "unresolved · regressed").
 */

/** `statusDetails` of an issue, as Sentry's API and webhooks send it. */
export const StatusDetailsSchema = loose({
  inNextRelease: optBool,
  inUpcomingRelease: optBool,
  inRelease: optString,
  inCommit: z
    .union([z.string(), z.looseObject({ id: optString, commit: optString })])
    .optional()
    .catch(undefined),
  autoResolved: optBool,
  // An archive until a condition: until when, or until how many more events (in a window of minutes).
  ignoreUntil: optString,
  ignoreCount: optNumberish,
  ignoreWindow: optNumberish,
});
export type StatusDetails = NonNullable<z.output<typeof StatusDetailsSchema>>;

const shortCommit = (id: string) => (/^[0-9a-f]{12,}$/i.test(id) ? id.slice(0, 7) : id);

/**
 * How an issue was resolved, as words to follow "resolved": from an `issue.resolved` webhook's
 * `resolution_type` and the issue's `statusDetails`. "now" (resolved by hand) needs no words.
 */
export function resolutionWords(type: string | undefined, details: StatusDetails | undefined): string | undefined {
  const commit = typeof details?.inCommit === 'string' ? details.inCommit : (details?.inCommit?.id ?? details?.inCommit?.commit);
  if (details?.inRelease) return `in release ${details.inRelease}`;
  if (commit) return `in commit ${shortCommit(commit)}`;
  if (details?.inNextRelease || type === 'in_next_release') return 'in the next release';
  if (details?.inUpcomingRelease || type === 'in_upcoming_release') return 'in the upcoming release';
  if (details?.autoResolved || type === 'autoresolve') return 'automatically (no new events)';
  switch (type) {
    case 'in_release':
      return 'in a release';
    case 'in_commit':
      return 'in a commit';
    case 'with_commit':
      return 'by a commit';
    default:
      return undefined;
  }
}

const ARCHIVED: Record<string, string> = {
  archived_until_escalating: 'until escalating',
  archived_until_condition_met: 'until a condition is met',
  archived_forever: 'forever',
};

/** Sentry calls an ignored issue archived. */
export const isArchived = (status: string | undefined) => status === 'ignored' || status === 'archived';

/** Cards from before the resolution was kept as words stored Sentry's type humanized ("Now", "In next release"). */
function resolutionOf(stored: string | undefined): string | undefined {
  if (!stored || /^now$/i.test(stored)) return undefined;
  return stored.charAt(0).toLowerCase() + stored.slice(1);
}

/** "resolved in the next release", "archived until escalating", "unresolved · regressed". */
export function statusWords(status: string | undefined, substatus?: string, resolution?: string): string | undefined {
  if (!status) return undefined;
  if (status === 'resolved') return ['resolved', resolutionOf(resolution)].filter(Boolean).join(' ');
  if (isArchived(status))
    return ['archived', substatus ? (ARCHIVED[substatus] ?? substatus.replace(/_/g, ' ')) : undefined].filter(Boolean).join(' ');
  return [status.replace(/_/g, ' '), substatus?.replace(/_/g, ' ')].filter(Boolean).join(' · ');
}
