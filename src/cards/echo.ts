/**
 * Sentry's webhook for a change made from Discord: recognized by what it says happened to the
 * issue (its status and substatus, or who it is assigned to, by Sentry id), never by display text
 * (Sentry's webhook names a team by its display name where Dispatch's menu showed its slug).
 */

/** What a change made from Discord will make Sentry send back, and when the change was made. */
export interface ExpectedEcho {
  status?: string;
  substatus?: string;
  assignee?: Actor;
  at: number;
}

/** A Sentry user or team, as Sentry names them: `user` / `team` and the id (text: webhooks send it as a number). */
export interface Actor {
  type: string;
  id: string;
}

/** What an event from Sentry says it did to the issue. */
export interface IssueEffect {
  status?: string;
  substatus?: string;
  assignee?: Actor;
}

/** Sentry's webhook for a change made from Discord counts as that change's echo for this long. */
export const ECHO_WINDOW_MS = 10 * 60_000;

/** Changes made from Discord whose echo may still come: a few at most (several clicks in a row). */
const KEPT = 5;

/** `user:501` → { type: 'user', id: '501' }. */
export function actorOf(actor: string | undefined): Actor | undefined {
  const match = /^(user|team):(\d{1,20})$/.exec(actor ?? '');
  return match ? { type: match[1]!, id: match[2]! } : undefined;
}

export const sameActor = (a: Actor | undefined, b: Actor | undefined) =>
  a !== undefined && b !== undefined && a.type === b.type && a.id === b.id;

const archivedAlike = (status: string | undefined) => (status === 'archived' ? 'ignored' : status);

function matches(expected: ExpectedEcho, effect: IssueEffect): boolean {
  if (expected.assignee) return sameActor(expected.assignee, effect.assignee);
  if (expected.status === undefined || archivedAlike(expected.status) !== archivedAlike(effect.status)) return false;
  // A webhook that names no substatus (older Sentry) matches on the status alone.
  return expected.substatus === undefined || effect.substatus === undefined || expected.substatus === effect.substatus;
}

/** The echoes still expected after `at`, with `added` (a change just made from Discord). */
export function expecting(previous: readonly ExpectedEcho[] | undefined, added: ExpectedEcho | undefined, at: number): ExpectedEcho[] {
  const live = (previous ?? []).filter((e) => at - e.at <= ECHO_WINDOW_MS);
  return (added ? [...live, added] : live).slice(-KEPT);
}

/**
 * Is this event Sentry's echo of a change made from Discord? Returns the echoes still expected
 * afterwards (the matched one is used up), or undefined when it is a change of its own.
 */
export function consumeEcho(
  expected: readonly ExpectedEcho[] | undefined,
  effect: IssueEffect | undefined,
  at: number,
): ExpectedEcho[] | undefined {
  if (!effect) return undefined;
  const live = expecting(expected, undefined, at);
  const index = live.findIndex((e) => matches(e, effect));
  return index === -1 ? undefined : live.filter((_, i) => i !== index);
}
