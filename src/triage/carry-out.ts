import { recordCardEvent, type CardTarget } from '../cards/card-events.js';
import type { CardReconciler } from '../cards/reconciler.js';
import { issueCardKey } from '../cards/state.js';
import type { Database } from '../db/database.js';
import type { Route, Source } from '../db/schema.js';
import { setSentryProblem } from '../db/sources.js';
import type { GuildId, UserId } from '../ids.js';
import type { Logger } from '../logger.js';
import { actingFor, memberTokenProblem, type Acting, type ActingDeps } from '../people/acting.js';
import { describeSentryProblem, outcomeUnknown, SentryApiError, type SentryApi } from '../sentry-api/client.js';
import { UserError } from '../user-error.js';
import { TRIAGE_ACTIONS, TRIAGE_EVENT_TYPE, type StatusAction, type TriagePayload } from './actions.js';

/**
 * A change made from a card, carried out: as the member when they connected their own Sentry
 * identity, else as the integration (src/people/acting.ts); Sentry called with a deadline; the
 * change stored as an event of the card's route, so the card shows it in order with Sentry's
 * webhooks. The command handler (commands/triage.ts) and the simulation both go through here.
 */

export interface CarryOutDeps extends ActingDeps {
  logger: Logger;
  now: () => number;
  /** Reads an issue back a few seconds after a change Sentry did not confirm. */
  cardChecks: Pick<CardReconciler, 'checkSoon'>;
  /** Events were stored: the delivery worker should look. */
  wakeDelivery: () => void;
}

/** What a member asked: a status action, or an assignee (`user:501`, `team:77`, `me`, `none`) with the name the menu showed. */
export type Change = { kind: StatusAction } | { kind: 'assign-to'; actor: string; label?: string };

export interface Click {
  route: Route;
  source: Source;
  issueId: string;
  org: string;
  member: { guildId: GuildId; userId: UserId; name: string };
  change: Change;
  /** The source's own API (its integration token): what a member without a link of their own acts through. */
  integration: SentryApi;
  /**
   * The issue has a card on the route: the change is stored for it. Without one (an issue shown by
   * `/dispatch issue`), nothing is posted: Sentry's webhook for the change goes where it goes.
   */
  onCard: boolean;
}

export type ClickOutcome =
  | { done: true; triage: TriagePayload['data']['triage']; acting: Acting; issue: Record<string, unknown> }
  /** Not done: why, in words for the member; `unknown` when Sentry may still make it (the card follows Sentry then). */
  | { done: false; words: string; unknown: boolean };

export const cardOf = (route: Route, issueId: string): CardTarget => ({
  routeId: route.id,
  sourceId: route.sourceId,
  channelId: route.channelId,
  cardKey: issueCardKey(issueId),
});

/** The request body and what the card's thread will say of it. */
function requestOf(change: Change, acting: Acting, by: string): { body: Record<string, unknown>; triage: TriagePayload['data']['triage'] } {
  const as = acting.as ? { as: acting.as } : {};
  if (change.kind !== 'assign-to') return { body: { ...TRIAGE_ACTIONS[change.kind].change }, triage: { kind: change.kind, by, ...as } };
  if (change.actor === 'none') return { body: { assignedTo: '' }, triage: { kind: 'assign-to', by, ...as } };
  if (change.actor === 'me') {
    if (!acting.link) throw new UserError('**Assign to me** needs your own Sentry identity: connect it with `/dispatch me connect`.');
    const actor = `user:${acting.link.sentryUserId}`;
    return { body: { assignedTo: actor }, triage: { kind: 'assign-to', by, ...as, actor, assignee: acting.link.sentryName } };
  }
  if (!/^(user|team):\d{1,20}$/.test(change.actor)) throw new UserError('That choice is not valid any more.');
  const label = change.label ? { assignee: change.label } : {};
  return { body: { assignedTo: change.actor }, triage: { kind: 'assign-to', by, ...as, actor: change.actor, ...label } };
}

/** Stores the change for its card; false when the card's route was removed meanwhile. */
async function record(deps: CarryOutDeps, click: Click, triage: TriagePayload['data']['triage'], issue: Record<string, unknown>) {
  const payload: TriagePayload = { action: 'triage', data: { triage, issue } };
  if (!(await recordCardEvent(deps.db, cardOf(click.route, click.issueId), TRIAGE_EVENT_TYPE, payload, deps.now()))) return false;
  deps.wakeDelivery();
  return true;
}

export async function carryOut(deps: CarryOutDeps, click: Click): Promise<ClickOutcome> {
  const acting = await actingFor(deps, click.member, { source: click.source, org: click.org }, click.integration);
  const { body, triage } = requestOf(click.change, acting, click.member.name);
  const about = {
    guild_id: click.source.guildId,
    source_id: click.source.id,
    route_id: click.route.id,
    issue_id: click.issueId,
    user_id: click.member.userId,
    action: click.change.kind,
    as_member: acting.link !== undefined,
  };
  let issue: Record<string, unknown>;
  try {
    issue = await acting.api.updateIssue(click.org, click.issueId, body);
    if (click.onCard && !(await record(deps, click, triage, issue)))
      throw new UserError('Done in Sentry, but this card is no longer managed by Dispatch: its route was removed meanwhile.');
  } catch (error) {
    if (!(error instanceof SentryApiError)) throw error;
    deps.logger.warn({ ...about, problem: error.problem.kind }, 'triage action refused by Sentry');
    const unknown = outcomeUnknown(error.problem);
    if (unknown && click.onCard) {
      // Sentry may still make the change: the card says what was asked and takes Sentry's webhook
      // for it as the member's own change, not as news; the issue is read back shortly (through the
      // integration) and the card follows what Sentry has.
      await record(deps, click, { ...triage, unconfirmed: true }, {});
      deps.cardChecks.checkSoon(cardOf(click.route, click.issueId), click.integration, click.org);
    }
    return { done: false, unknown, words: await problemWords(deps, click, acting, error) };
  }
  deps.logger.info(about, 'triage action done');
  return { done: true, triage, acting, issue };
}

/** A refusal in words: the member's own token's (src/people/acting.ts), or the integration's, which `info` then shows too. */
export async function problemWords(
  deps: Pick<CarryOutDeps, 'db' | 'now'>,
  click: Pick<Click, 'source'>,
  acting: Acting,
  error: SentryApiError,
): Promise<string> {
  if (acting.link) return memberTokenProblem(deps.db, acting.link, error.problem, deps.now());
  const { kind } = error.problem;
  if (kind === 'revoked' || kind === 'forbidden') await setSentryProblem(deps.db, click.source.id, describeSentryProblem(error.problem));
  return describeSentryProblem(error.problem);
}
