import { ownEventType } from '../own-events.js';

/** Archived until a count or a time Sentry keeps in the issue's `statusDetails`. */
const UNTIL_MET = 'archived_until_condition_met';

function archiveChoice<S extends string, D extends { ignoreCount?: number; ignoreDuration?: number }>(
  label: string,
  substatus: S,
  statusDetails: D,
  done: string,
) {
  const asked = `Archive ${label.charAt(0).toLowerCase()}${label.slice(1)}`;
  return { label, asked, change: { status: 'ignored', substatus, statusDetails }, done, status: 'ignored', substatus } as const;
}

/**
 * The triage actions a card offers, what each asks Sentry (PUT /issues/{id}/), and what it leaves
 * the issue as. One table: the buttons, the API call, the thread line and the recognition of
 * Sentry's own webhook for the same change all read it.
 */
export const TRIAGE_ACTIONS = {
  resolve: { label: 'Resolve', change: { status: 'resolved' }, done: 'Resolved', status: 'resolved' },
  'resolve-next': {
    label: 'Resolve in next release',
    change: { status: 'resolvedInNextRelease' },
    done: 'Resolved in the next release',
    status: 'resolved',
  },
  // Archive's choices, as Sentry's own Archive menu and its Slack integration offer them (the
  // substatus and `statusDetails` of Sentry's issue update: ignoreCount, ignoreDuration in minutes).
  archive: archiveChoice('Until escalating', 'archived_until_escalating', {}, 'Archived until escalating'),
  'archive-10': archiveChoice('Until 10 more events', UNTIL_MET, { ignoreCount: 10 }, 'Archived until 10 more events'),
  'archive-100': archiveChoice('Until 100 more events', UNTIL_MET, { ignoreCount: 100 }, 'Archived until 100 more events'),
  'archive-1000': archiveChoice('Until 1,000 more events', UNTIL_MET, { ignoreCount: 1000 }, 'Archived until 1,000 more events'),
  'archive-1h': archiveChoice('For 1 hour', UNTIL_MET, { ignoreDuration: 60 }, 'Archived for 1 h'),
  'archive-24h': archiveChoice('For 24 hours', UNTIL_MET, { ignoreDuration: 24 * 60 }, 'Archived for 24 h'),
  'archive-7d': archiveChoice('For 7 days', UNTIL_MET, { ignoreDuration: 7 * 24 * 60 }, 'Archived for 7 d'),
  'archive-forever': archiveChoice('Forever', 'archived_forever', {}, 'Archived forever'),
  unresolve: {
    label: 'Unresolve',
    change: { status: 'unresolved', substatus: 'ongoing' },
    done: 'Unresolved',
    status: 'unresolved',
    substatus: 'ongoing',
  },
  ongoing: {
    label: 'Mark ongoing',
    change: { status: 'unresolved', substatus: 'ongoing' },
    done: 'Marked ongoing',
    status: 'unresolved',
    substatus: 'ongoing',
  },
} as const satisfies Record<string, { label: string; change: object; done: string; status: string; substatus?: string }>;

export type StatusAction = keyof typeof TRIAGE_ACTIONS;
/** `assign` and `archive-menu` open a menu (members and teams; Archive's choices); `assign-to` and `archive-to` are choices made in them. */
export type TriageKind = StatusAction | 'assign' | 'assign-to' | 'archive-menu' | 'archive-to';

/** Archive's choices in its menu's order: `archive` (until escalating) is what a card's Archive button did before there was a choice. */
export const ARCHIVE_CHOICES = [
  'archive',
  'archive-10',
  'archive-100',
  'archive-1000',
  'archive-1h',
  'archive-24h',
  'archive-7d',
  'archive-forever',
] as const satisfies readonly StatusAction[];

export const isStatusAction = (kind: string): kind is StatusAction => Object.hasOwn(TRIAGE_ACTIONS, kind);

/** What a status action is called when asked for ("Archive for 24 hours"), in a line that says it was asked. */
export function askedWords(kind: StatusAction): string {
  const action: { label: string; asked?: string } = TRIAGE_ACTIONS[kind];
  return action.asked ?? action.label;
}

/** What an archive choice asked for: for how many minutes, or until how many more events (nothing for the others). */
export function archiveAsked(kind: StatusAction): { ignoreDuration?: number; ignoreCount?: number } {
  const change = TRIAGE_ACTIONS[kind].change;
  return 'statusDetails' in change ? change.statusDetails : {};
}

/** Who made a change from Discord, as a card's thread says it: as themselves in Sentry when they were connected. */
export const changedByWords = (by: string, as: string | undefined): string =>
  as ? `by ${by}, as ${as} in Sentry` : `by ${by} from Discord`;

/** The status actions that make sense for an issue in this status, in button order. */
export function statusActionsFor(status: string | undefined): StatusAction[] {
  if (status === 'resolved') return ['unresolve'];
  if (status === 'ignored' || status === 'archived') return ['ongoing', 'resolve'];
  return ['resolve', 'resolve-next', 'archive'];
}

/**
 * The event type under which a triage action done from Discord is stored and delivered to its
 * card, so it goes through the card's queue in order with Sentry's webhooks.
 */
export const TRIAGE_EVENT_TYPE = ownEventType('triage');

/** What a stored triage event carries. */
export interface TriagePayload {
  action: 'triage';
  data: {
    /**
     * `actor`: whom it was assigned to, as Sentry names them (`user:501`, `team:77`); `assignee` the
     * name shown. `unconfirmed`: Sentry did not say whether it made the change (no answer in time, a 5xx).
     */
    triage: {
      kind: StatusAction | 'assign-to';
      by: string;
      /** The member's own Sentry identity the change was made as (their email, else their name); absent when made as the integration. */
      as?: string;
      assignee?: string;
      actor?: string;
      unconfirmed?: boolean;
    };
    /** What Sentry answered: the issue's fields after the change (nothing when unconfirmed). */
    issue: Record<string, unknown>;
  };
}
