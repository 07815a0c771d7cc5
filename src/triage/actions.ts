import { ownEventType } from '../own-events.js';

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
  archive: {
    label: 'Archive',
    change: { status: 'ignored', substatus: 'archived_until_escalating', statusDetails: {} },
    done: 'Archived until escalating',
    status: 'ignored',
    substatus: 'archived_until_escalating',
  },
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
/** `assign` opens the menu of members and teams; `assign-to` is a choice made in it. */
export type TriageKind = StatusAction | 'assign' | 'assign-to';

export const isStatusAction = (kind: string): kind is StatusAction => Object.hasOwn(TRIAGE_ACTIONS, kind);

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
    triage: { kind: StatusAction | 'assign-to'; by: string; assignee?: string; actor?: string; unconfirmed?: boolean };
    /** What Sentry answered: the issue's fields after the change (nothing when unconfirmed). */
    issue: Record<string, unknown>;
  };
}
