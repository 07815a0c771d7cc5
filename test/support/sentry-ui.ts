import { randomUUID } from 'node:crypto';
import { sign } from '../../src/sentry/verify.js';
import { asciiJson } from './sentry.js';

/**
 * Requests built the way Sentry's requesters build them (getsentry/sentry,
 * src/sentry/sentry_apps/external_requests/; see docs/sentry-ui-components.md):
 *
 * - select options (select_requester.py): GET, the webhook URL's scheme and host with the field's
 *   `uri` as path and the query `installationId`, `projectSlug`, `query`, `dependentData` (the last
 *   three only when set) encoded by `urlencode` (quote_plus); headers `Content-Type`, `Request-ID`
 *   and `Sentry-App-Signature`, the HMAC-SHA256 hex of an EMPTY STRING;
 * - the settings check (alert_rule_action_requester.py): POST to the settings `uri`, the body
 *   `{"fields":[…],"installationId":"…"}` as `sentry.utils.json.dumps` writes it (compact, ASCII),
 *   `Sentry-App-Signature` the HMAC of those exact bytes.
 */

export const INSTALLATION_ID = '7a485448-a9e2-4c85-8a3c-4f44175783c9';

/** Python's `urllib.parse.quote_plus`: only letters, digits and `_.-~` stay; a space is `+`. */
function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function urlencode(query: Record<string, string>): string {
  return Object.entries(query)
    .map(([key, value]) => `${quotePlus(key)}=${quotePlus(value)}`)
    .join('&');
}

const headers = (signature: string | undefined): Record<string, string> => ({
  'Content-Type': 'application/json',
  'Request-ID': randomUUID().replace(/-/g, ''),
  ...(signature !== undefined ? { 'Sentry-App-Signature': signature } : {}),
});

export interface SelectQuery {
  installationId?: string;
  projectSlug?: string;
  query?: string;
  /** The values of the fields it depends on, sent as JSON. */
  dependentData?: Record<string, unknown>;
}

/** A select's options request; `secret` undefined sends no signature. */
export function selectRequest(
  webhookUrl: string,
  uri: string,
  secret: string | undefined,
  select: SelectQuery = {},
): { url: string; init: RequestInit } {
  const query: Record<string, string> = { installationId: select.installationId ?? INSTALLATION_ID };
  if (select.projectSlug) query.projectSlug = select.projectSlug;
  if (select.query) query.query = select.query;
  if (select.dependentData) query.dependentData = JSON.stringify(select.dependentData);
  const url = new URL(webhookUrl);
  return {
    url: `${url.protocol}//${url.host}${uri}?${urlencode(query)}`,
    init: { method: 'GET', headers: headers(secret === undefined ? undefined : sign('', secret)) },
  };
}

/** The settings check of a rule being saved; `signWith` signs other bytes than the body (a forgery). */
export function settingsRequest(
  webhookUrl: string,
  uri: string,
  secret: string | undefined,
  fields: { name: string; value: unknown; label?: string }[],
  options: { installationId?: string; signWith?: string } = {},
): { url: string; init: RequestInit; body: string } {
  const body = asciiJson({ fields, installationId: options.installationId ?? INSTALLATION_ID });
  const url = new URL(webhookUrl);
  return {
    url: `${url.protocol}//${url.host}${uri}${url.search}`,
    body,
    init: { method: 'POST', body, headers: headers(secret === undefined ? undefined : sign(options.signWith ?? body, secret)) },
  };
}

/** Sends one of the above and reads Sentry's way: the status, and the JSON body. */
export async function send(request: { url: string; init: RequestInit }): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(request.url, request.init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** What Sentry shows the person saving a rule when the check refuses: `<App>: <message>`, or its default. */
export function shownInSentry(appName: string, answer: { json: any }): string {
  const message = answer.json && typeof answer.json === 'object' && !Array.isArray(answer.json) ? answer.json.message : undefined;
  return `${appName}: ${message ?? 'Something went wrong!'}`;
}
