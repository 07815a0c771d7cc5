import { z } from 'zod';
import { assigneeActor } from '../cards/issue-fields.js';
import type { Actor } from '../cards/echo.js';
import type { MemberLinkId, RouteId, UserId } from '../ids.js';
import { loose, optIdish, optString, parseLoose } from '../sentry/loose-schema.js';
import type { DmKind } from './dm-kinds.js';

/**
 * Who gets a direct message about an event: pure, decided when the webhook is stored, so the DMs
 * are written with it in one transaction (durable, and never twice: a duplicate webhook writes
 * nothing). Sentry's webhook is the one source of what happened, a change made from Discord
 * included: Sentry sends its webhook for that change like for any other, so each change is one DM.
 */

/** A linked member of the source's server who wants some DMs. */
export interface DmCandidate {
  linkId: MemberLinkId;
  /** Their Discord user: one person, whatever the servers and sources they get DMs through. */
  userId: UserId;
  /** Their Sentry user id: what webhooks name assignees and actors by. */
  sentryUserId: string;
  kinds: ReadonlySet<DmKind>;
  baseUrl: string;
  org: string;
  /** Their DM route for this source, once made. */
  routeId?: RouteId;
}

const Who = loose({ type: optString, id: optIdish });
const Payload = z.looseObject({
  actor: Who,
  data: loose({
    assignee: Who,
    issue: loose({ id: optIdish, title: optString, status: optString, substatus: optString, assignedTo: Who }),
    comment_id: optIdish,
  }),
});

/** The event types that can be a DM: everything else is never looked at for one. */
export const DM_EVENT_TYPES: ReadonlySet<string> = new Set(['issue.assigned', 'issue.resolved', 'issue.unresolved', 'comment.created']);

/** Which kind of DM an event is, if any: an assignment, a regression or escalation, a resolution, a comment. */
export function dmKindOf(type: string, payload: unknown): DmKind | undefined {
  switch (type) {
    case 'issue.assigned':
      return 'assigned';
    case 'issue.resolved':
      return 'resolved';
    case 'comment.created':
      return 'comments';
    case 'issue.unresolved': {
      // Sentry's regressions and escalations; an issue merely marked ongoing by someone is not news to its assignee.
      const substatus = parseLoose(Payload, payload).data?.issue?.substatus;
      return substatus === undefined || substatus === 'regressed' || substatus === 'escalating' ? 'regressed' : undefined;
    }
    default:
      return undefined;
  }
}

/** What a DM-worthy event is about: its kind, and the Sentry user it concerns (by id). */
export interface DmSubject {
  kind: DmKind;
  sentryUserId: string;
}

/**
 * The Sentry user an event is about, for a DM: the new assignee of an assignment, the issue's
 * assignee otherwise (a comment's payload does not say: the card does). Teams get no DM.
 */
export function dmSubjectOf(type: string, payload: unknown, cardAssignee?: Actor): DmSubject | undefined {
  const kind = dmKindOf(type, payload);
  if (!kind) return undefined;
  const { data } = parseLoose(Payload, payload);
  const assignee =
    kind === 'comments'
      ? cardAssignee
      : kind === 'assigned'
        ? (assigneeActor(data?.assignee) ?? assigneeActor(data?.issue?.assignedTo))
        : assigneeActor(data?.issue?.assignedTo);
  return assignee?.type === 'user' ? { kind, sentryUserId: assignee.id } : undefined;
}

/** The Sentry user who made the change, when a user did (an integration or Sentry itself is `application`). */
export function changedBy(payload: unknown): string | undefined {
  const actor = parseLoose(Payload, payload).actor;
  return actor?.type === 'user' && actor.id !== undefined ? actor.id : undefined;
}

/**
 * The members to send a DM about an event: the one it is about, if they asked for that kind, at
 * the source's Sentry (and in the event's organization, when it names one), unless they made the
 * change themselves.
 */
export function dmRecipients(
  event: { payload: unknown; baseUrl: string; org?: string },
  subject: DmSubject,
  candidates: readonly DmCandidate[],
): DmCandidate[] {
  const actor = changedBy(event.payload);
  return candidates.filter(
    (c) =>
      c.sentryUserId === subject.sentryUserId &&
      c.kinds.has(subject.kind) &&
      c.baseUrl === event.baseUrl &&
      (event.org === undefined || c.org === event.org) &&
      actor !== c.sentryUserId,
  );
}

/**
 * What names one Sentry change to one member, whichever source's copy of Sentry's webhook tells of
 * it (each integration gets its own, with its own installation, and counts that may have moved in
 * between, so the bytes differ): the person, their Sentry, the kind of change, the issue and what
 * it says of itself (title, status), whom it is about, who made it (and which comment). Two copies
 * name the same; a later change that reads the same is told apart by time (src/people/dm-once.ts).
 */
export function dmOnceKey(
  recipient: Pick<DmCandidate, 'userId' | 'baseUrl' | 'org'>,
  event: { type: string; payload: unknown; cardKey?: string },
  subject: DmSubject,
): string {
  const { data } = parseLoose(Payload, event.payload);
  return JSON.stringify([
    recipient.userId,
    recipient.baseUrl,
    recipient.org,
    event.type,
    event.cardKey ?? data?.issue?.id ?? '',
    subject.sentryUserId,
    changedBy(event.payload) ?? '',
    data?.comment_id ?? '',
    data?.issue?.title ?? '',
    data?.issue?.status ?? '',
    data?.issue?.substatus ?? '',
  ]);
}
