import type { Source } from '../db/schema.js';
import type { SecretBox } from '../db/secret-box.js';
import { SentryApi, systemResolve, type Resolve } from './client.js';
import { DEFAULT_SENTRY_URL, type UrlPolicy } from './url-guard.js';

/** Sentry's API as a source's token reaches it, or undefined when the source is not connected. */
export function sentryApiOf(
  source: Source,
  secrets: SecretBox,
  policy: UrlPolicy,
  resolve: Resolve = systemResolve,
): SentryApi | undefined {
  if (!source.sentryToken) return undefined;
  return new SentryApi(source.sentryBaseUrl ?? DEFAULT_SENTRY_URL, secrets.open(source.sentryToken), policy, resolve);
}

/** The organization an issue's calls go to: the one its payloads named, else the one given at connect. */
export const sentryOrgOf = (source: Pick<Source, 'sentryOrg'>, cardOrg: string | undefined): string | undefined =>
  cardOrg ?? source.sentryOrg ?? undefined;
