import type { Database } from '../db/database.js';
import { dropToken, linkAt } from '../db/member-links.js';
import type { MemberLink, Source } from '../db/schema.js';
import type { SecretBox } from '../db/secret-box.js';
import { describeSentryProblem, SentryApi, systemResolve, type SentryProblem } from '../sentry-api/client.js';
import { DEFAULT_SENTRY_URL, type UrlPolicy } from '../sentry-api/url-guard.js';
import type { GuildId, UserId } from '../ids.js';

/**
 * Whom a click acts as in Sentry. A member who connected their own Sentry identity for the card's
 * Sentry and organization (in this server) acts as themselves, with their token, so Sentry's
 * activity names them; anyone else acts through the source's integration token, as before. Who
 * may click at all is decided elsewhere and does not change: a personal token gives attribution,
 * not permission. And a personal token Sentry refuses is said in words, never replaced silently by
 * the integration's.
 */
export interface Acting {
  api: SentryApi;
  /** The member's link, when the click acts as them. */
  link?: MemberLink;
  /** How the card's thread names their Sentry identity ("alice@example.com"). */
  as?: string;
}

export interface ActingDeps {
  db: Database;
  secrets: SecretBox;
  sentryUrls: UrlPolicy;
}

/** The member's Sentry identity as a thread line names it: their email, else their name. */
export const identityWords = (link: Pick<MemberLink, 'sentryEmail' | 'sentryName'>): string => link.sentryEmail || link.sentryName;

/** The Sentry a source calls: the one it was connected to, else sentry.io. */
export const sentryOf = (source: Pick<Source, 'sentryBaseUrl'>): string => source.sentryBaseUrl ?? DEFAULT_SENTRY_URL;

/** Who the member's click acts as for a card of `source` in `org`: themselves when linked there, else the integration (`integration`). */
export async function actingFor(
  deps: ActingDeps,
  member: { guildId: GuildId; userId: UserId },
  where: { source: Source; org: string },
  integration: SentryApi,
): Promise<Acting> {
  const link = await linkAt(deps.db, { ...member, baseUrl: sentryOf(where.source), org: where.org });
  if (!link?.token) return { api: integration };
  const api = new SentryApi(link.sentryBaseUrl, deps.secrets.open(link.token), deps.sentryUrls, systemResolve);
  return { api, link, as: identityWords(link) };
}

/**
 * What a member is told when Sentry refused their own token, and what is done about it: a token
 * Sentry no longer accepts (401) is dropped at once (their clicks then act through the integration,
 * and they are told so); a change their Sentry role may not make (403) is refused in words, and not
 * made through the integration instead.
 */
export async function memberTokenProblem(db: Database, link: MemberLink, problem: SentryProblem, now: number): Promise<string> {
  if (problem.kind === 'revoked') {
    const words = `Sentry refused your personal token (401): it was revoked or has expired, so Dispatch forgot it. Nothing was changed. Connect a new one with \`/dispatch me connect\`; until then your clicks act through the integration.`;
    await dropToken(db, link.id, null, now); // told now, in the answer to this click
    return words;
  }
  if (problem.kind === 'forbidden') {
    return `Sentry refused this for you (403): your token lacks \`${problem.scope}\`, or your role in ${link.sentryOrg} may not do this. Nothing was changed, and Dispatch did not do it through the integration instead. Give your token the scope (User Settings → Personal Tokens), then \`/dispatch me connect\` again.`;
  }
  return describeSentryProblem(problem);
}
