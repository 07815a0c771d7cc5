import type { CardState } from '../cards/card-state.js';
import { issueCardKey } from '../cards/state.js';
import { newestServerCards, orgOfCards, serverCardsOf, type ServerCard } from '../db/cards.js';
import type { Database } from '../db/database.js';
import type { Source } from '../db/schema.js';
import type { SecretBox } from '../db/secret-box.js';
import { listSources } from '../db/sources.js';
import type { GuildId } from '../ids.js';
import { sentryOf } from '../people/acting.js';
import { describeSentryProblem, SentryApiError } from '../sentry-api/client.js';
import { sentryApiOf, sentryOrgOf } from '../sentry-api/for-source.js';
import type { UrlPolicy } from '../sentry-api/url-guard.js';
import { sameSentry, type IssueRef } from './issue-ref.js';

/**
 * An issue a member names (`/dispatch issue find`, "Show Sentry issue"), found among what their
 * server's sources see: its card in the server if it has one (tried first), then each source
 * connected to Sentry's API at the Sentry and organization the reference names, read through that
 * source's own token. Never another server's source or card.
 */

export interface FindDeps {
  db: Database;
  secrets: SecretBox;
  sentryUrls: UrlPolicy;
}

export interface FoundIssue {
  source: Source;
  org: string;
  issueId: string;
  /** Sentry's answer: the issue as it is now. */
  issue: Record<string, unknown>;
  /** Its live card in the server, if it has one. */
  card?: ServerCard & { parsed: CardState };
}

/** Sources tried at most for one look-up (each one request to Sentry). */
const MAX_SOURCES = 5;
/** Cards a short id is looked for among (the server's newest). */
const SHORT_ID_CARDS = 250;

async function cardOf(db: Database, guildId: GuildId, ref: IssueRef): Promise<FoundIssue['card']> {
  const cards =
    ref.kind === 'id'
      ? await serverCardsOf(db, guildId, issueCardKey(ref.value))
      : (await newestServerCards(db, guildId, SHORT_ID_CARDS)).filter(
          (c) => (JSON.parse(c.state) as CardState).shortId?.toUpperCase() === ref.value,
        );
  const card = cards[0];
  return card ? { ...card, parsed: JSON.parse(card.state) as CardState } : undefined;
}

/**
 * The issue, or why it was not found, in words for the member. Only the sources `mayAsk` allows
 * (those whose issues the member may see) are asked: who may look is decided before any call. An
 * issue whose card is on a source they may not see is `refused` (with that source), asking none.
 */
export async function findIssue(
  deps: FindDeps,
  guildId: GuildId,
  ref: IssueRef,
  mayAsk: (source: Source) => boolean,
): Promise<FoundIssue | { problem: string } | { refused: Source }> {
  const card = await cardOf(deps.db, guildId, ref);
  const sources = await listSources(deps.db, guildId);
  // The card names the issue's source: one the member may not see refuses them, whichever other source could read it.
  const cardSource = card && sources.find((s) => s.id === card.sourceId);
  if (cardSource && !mayAsk(cardSource)) return { refused: cardSource };
  const connected = sources.filter((s) => s.sentryToken !== null && mayAsk(s));
  if (connected.length === 0)
    return {
      problem:
        'No source of this server is connected to Sentry’s API, so Dispatch cannot read issues: an admin can connect one with `/dispatch source connect`.',
    };
  // The card's own source first: it is the issue's for sure.
  const ordered = [...connected.filter((s) => s.id === card?.sourceId), ...connected.filter((s) => s.id !== card?.sourceId)];
  let failure: string | undefined;
  let tried = 0;
  for (const source of ordered) {
    if (tried >= MAX_SOURCES) break;
    if (ref.baseUrl && !sameSentry(ref.baseUrl, sentryOf(source))) continue;
    const org = sentryOrgOf(source, card?.sourceId === source.id ? card.parsed.org : undefined) ?? (await orgOfCards(deps.db, source.id));
    if (!org || (ref.org && org !== ref.org)) continue;
    tried += 1;
    const api = sentryApiOf(source, deps.secrets, deps.sentryUrls)!;
    try {
      const issue = ref.kind === 'id' ? await api.issue(org, ref.value) : await api.issueByShortId(org, ref.value);
      const issueId = String(issue.id ?? ref.value);
      if (!/^\d{1,20}$/.test(issueId)) continue;
      return { source, org, issueId, issue, ...(card && card.sourceId === source.id ? { card } : {}) };
    } catch (error) {
      if (!(error instanceof SentryApiError)) throw error;
      if (error.problem.kind !== 'not-found') failure = describeSentryProblem(error.problem);
    }
  }
  return {
    problem:
      failure ??
      (tried === 0
        ? 'None of this server’s sources is connected to that Sentry organization.'
        : 'Sentry does not know that issue in the organizations this server’s sources are connected to (or their tokens may not see it).'),
  };
}
