/**
 * What a member may name an issue by (`/dispatch issue find`, a message's link): its numeric id
 * (`4242`), its short id (`BACKEND-4F`), or a Sentry URL of it — sentry.io's
 * (`https://example-org.sentry.io/issues/4242/`, `https://sentry.io/organizations/example-org/issues/4242/`)
 * or a self-hosted Sentry's (`https://sentry.example.com/organizations/example-org/issues/4242/`). Pure.
 */
export interface IssueRef {
  /** `id`: Sentry's numeric issue (group) id; `short`: a short id, upper case. */
  kind: 'id' | 'short';
  value: string;
  /** From a URL: the organization it names, and the Sentry it is at (sentry.io for any of its region hosts). */
  org?: string;
  baseUrl?: string;
}

const NUMERIC = /^\d{1,20}$/;
const SHORT_ID = /^[A-Za-z0-9][A-Za-z0-9_.]*(-[A-Za-z0-9_.]+)*-[A-Za-z0-9]{1,12}$/;
const ORG = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `123` or `BACKEND-4F` as a reference; anything else undefined. */
function idOrShortId(text: string): IssueRef | undefined {
  if (NUMERIC.test(text)) return { kind: 'id', value: text };
  if (text.length <= 64 && SHORT_ID.test(text)) return { kind: 'short', value: text.toUpperCase() };
  return undefined;
}

/** A Sentry issue URL as a reference: its id (or short id) from `/issues/<id>/`, its organization from the host or the path. */
function fromUrl(text: string): IssueRef | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const path = /^(?:\/organizations\/([^/]+))?\/issues\/([^/?#]+)\/?/.exec(url.pathname);
  const ref = path ? idOrShortId(decodeURIComponent(path[2]!)) : undefined;
  if (!ref) return undefined;
  const saas = /^(?:([a-z0-9-]+)\.)?(?:[a-z]{2}\.)?sentry\.io$/.exec(url.hostname);
  const fromHost = saas?.[1] && saas[1] !== 'www' ? saas[1] : undefined;
  const org = path![1] ? decodeURIComponent(path![1]) : fromHost;
  return {
    ...ref,
    ...(org && ORG.test(org) ? { org } : {}),
    baseUrl: saas ? 'https://sentry.io' : url.origin,
  };
}

/** What a member typed: an id, a short id or a Sentry issue URL; undefined when it is none of these. */
export function parseIssueRef(typed: string): IssueRef | undefined {
  const text = typed.trim();
  return /^https?:\/\//i.test(text) ? fromUrl(text) : idOrShortId(text);
}

/** The first link to a Sentry issue in some texts (a message's content, its embeds' links): what "Show Sentry issue" shows. */
export function firstIssueLink(texts: readonly (string | undefined)[]): IssueRef | undefined {
  for (const text of texts) {
    for (const match of (text ?? '').matchAll(/https?:\/\/[^\s<>()"'\]|]+/gi)) {
      const ref = fromUrl(match[0]);
      if (ref) return ref;
    }
  }
  return undefined;
}

/** Two Sentry base URLs are the same Sentry: sentry.io and its region hosts are one. */
export function sameSentry(a: string, b: string): boolean {
  const host = (url: string) => {
    try {
      const { hostname, origin } = new URL(url);
      return /(^|\.)sentry\.io$/.test(hostname) ? 'sentry.io' : origin;
    } catch {
      return url;
    }
  };
  return host(a) === host(b);
}
