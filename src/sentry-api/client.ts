import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkBaseUrl, isPrivateAddress, privateReason, type UrlPolicy } from './url-guard.js';
import { DEFAULT_HOLD_MS, exhaustedUntil, retryAtOf, sharedRateGate, tokenKey, type RateGate } from './rate-gate.js';

/** What went wrong calling Sentry, in a form a member can act on; never Sentry's own response text. */
export type SentryProblem =
  | { kind: 'refused-url'; reason: string }
  /** Nothing reached Sentry (refused, no route, name not found): nothing can have changed. */
  | { kind: 'unreachable' }
  /** The request went out and no answer came (a deadline, a dropped connection): a change may still apply. */
  | { kind: 'no-answer'; change: boolean }
  /** Sentry failed (5xx): a change was most likely not made, but Sentry did not say so. */
  | { kind: 'server-error'; status: number; change: boolean }
  | { kind: 'revoked' }
  | { kind: 'forbidden'; scope: string }
  | { kind: 'not-found' }
  | { kind: 'rate-limited'; retryAfterSeconds?: number }
  | { kind: 'redirect' }
  | { kind: 'unexpected'; status: number };

export class SentryApiError extends Error {
  constructor(readonly problem: SentryProblem) {
    super(`Sentry API: ${problem.kind}`);
  }
}

/** A Sentry user, as a person's own token says who they are. */
export interface SentryUser {
  id: string;
  name: string;
  email: string;
}

/** Sentry's members and teams, as the assign menu shows them. */
export interface Assignee {
  /** `user:<id>` or `team:<id>`: what Sentry's `assignedTo` takes. */
  actor: string;
  name: string;
  /** For users: what a Discord name may match (username, email, name). */
  matches: string[];
}

const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/** How names are resolved: dns.lookup, or a stand-in for tests (a name whose answer changes between lookups). */
export type Resolve = (
  hostname: string,
  options: { all: true },
  callback: (error: Error | null, addresses: LookupAddress[]) => void,
) => void;

/** The system's resolver (what a real connection would use). */
export const systemResolve: Resolve = dnsLookup as unknown as Resolve;

/** Resolves like dns.lookup, but refuses private addresses: checked at each connection, so a DNS change cannot slip past. */
function guardedLookup(policy: UrlPolicy, resolve: Resolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const blocked = policy.allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (blocked) return callback(Object.assign(new Error(privateReason(blocked.address)), { code: 'EPRIVATE' }), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * Sentry's web API with one integration token, under the URL policy. Redirects are never followed,
 * every call has a deadline, and a response body is read as data, never shown to anyone.
 */
export class SentryApi {
  private readonly gateKey: string;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly policy: UrlPolicy,
    private readonly resolve: Resolve,
    private readonly gate: RateGate = sharedRateGate,
    private readonly now: () => number = Date.now,
  ) {
    this.gateKey = tokenKey(baseUrl, token);
  }

  /**
   * Who the token is and its scopes (Sentry's index, `GET /api/0/`: `{ version, auth: { scopes },
   * user }`, the user serialized as `{ id, name, username, email, … }`): the check before a token is
   * saved. An integration's token is its proxy user, which has no email; a person's has theirs.
   */
  async whoami(): Promise<{ name: string; scopes: string[]; user?: SentryUser }> {
    const body = (await this.call('GET', '/api/0/', 'org:read')) as {
      auth?: { scopes?: unknown };
      user?: { id?: unknown; name?: unknown; username?: unknown; email?: unknown };
    };
    const scopes = Array.isArray(body?.auth?.scopes) ? body.auth.scopes.filter((s): s is string => typeof s === 'string') : [];
    const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
    const name = text(body?.user?.name) ?? text(body?.user?.username) ?? 'an integration';
    const id = typeof body?.user?.id === 'number' ? String(body.user.id) : text(body?.user?.id);
    const email = text(body?.user?.email);
    return { name, scopes, ...(id && email ? { user: { id, name, email } } : {}) };
  }

  /** An issue by its short id (`BACKEND-4F`): Sentry's short id lookup answers `{ groupId, group, … }`. */
  async issueByShortId(org: string, shortId: string): Promise<Record<string, unknown>> {
    const body = (await this.call('GET', `/api/0/organizations/${enc(org)}/shortids/${enc(shortId)}/`, 'event:read')) as {
      groupId?: unknown;
      group?: unknown;
    };
    const group = body?.group && typeof body.group === 'object' ? (body.group as Record<string, unknown>) : {};
    return { ...group, ...(group.id === undefined && body?.groupId !== undefined ? { id: String(body.groupId) } : {}) };
  }

  /** PUT an issue's status or assignee; resolves with what Sentry says the issue now is. */
  async updateIssue(org: string, issueId: string, change: Record<string, unknown>): Promise<Record<string, unknown>> {
    const body = await this.call('PUT', `/api/0/organizations/${enc(org)}/issues/${enc(issueId)}/`, 'event:write', change);
    return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  }

  /** One issue as Sentry has it now. */
  async issue(org: string, issueId: string): Promise<Record<string, unknown>> {
    const body = await this.call('GET', `/api/0/organizations/${enc(org)}/issues/${enc(issueId)}/`, 'event:read');
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  }

  /**
   * Several issues in one request: Sentry's issue list with `group=<id>` repeated looks the ids up
   * directly (its query, paging and limit do not apply) in every project the token may see
   * (`project=-1`). Ids Sentry does not have (deleted, merged, another organization) are left out.
   */
  async issues(org: string, issueIds: readonly string[]): Promise<Record<string, unknown>[]> {
    if (issueIds.length === 0) return [];
    const query = [...issueIds.map((id) => `group=${enc(id)}`), 'project=-1', 'collapse=stats'].join('&');
    const body = await this.call('GET', `/api/0/organizations/${enc(org)}/issues/?${query}`, 'event:read');
    return Array.isArray(body) ? body.filter((i): i is Record<string, unknown> => i !== null && typeof i === 'object') : [];
  }

  /** The organization's members and the project's teams, for the assign menu. */
  async assignees(org: string, project: string | undefined): Promise<Assignee[]> {
    const members = (await this.call('GET', `/api/0/organizations/${enc(org)}/members/`, 'member:read')) as unknown[];
    const teams = project
      ? ((await this.call('GET', `/api/0/projects/${enc(org)}/${enc(project)}/teams/`, 'project:read')) as unknown[])
      : [];
    const out: Assignee[] = [];
    for (const team of Array.isArray(teams) ? teams : []) {
      const t = team as { id?: unknown; slug?: unknown; name?: unknown };
      if (t.id !== undefined) out.push({ actor: `team:${String(t.id)}`, name: `#${String(t.slug ?? t.name ?? t.id)}`, matches: [] });
    }
    for (const member of Array.isArray(members) ? members : []) {
      const m = member as { user?: { id?: unknown; name?: unknown; username?: unknown; email?: unknown }; email?: unknown; name?: unknown };
      const id = m.user?.id;
      if (id === undefined) continue; // an invitation not accepted yet cannot be assigned
      const texts = [m.user?.name, m.user?.username, m.user?.email, m.email, m.name].filter(
        (x): x is string => typeof x === 'string' && x !== '',
      );
      out.push({ actor: `user:${String(id)}`, name: texts[0] ?? `user ${String(id)}`, matches: texts });
    }
    return out;
  }

  private async call(method: string, path: string, scope: string, body?: unknown): Promise<unknown> {
    const checked = checkBaseUrl(this.baseUrl, this.policy);
    if (!checked.ok) throw new SentryApiError({ kind: 'refused-url', reason: checked.reason });
    // Sentry said to wait: every caller of this token waits, without a request.
    const wait = this.gate.waitOf(this.gateKey);
    if (wait !== undefined) throw new SentryApiError({ kind: 'rate-limited', retryAfterSeconds: wait });
    const url = new URL(`${checked.url}${path}`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const change = method !== 'GET';
    let response: { status: number; headers: IncomingHttpHeaders; body: Buffer };
    try {
      response = await this.send(url, method, payload);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EPRIVATE') throw new SentryApiError({ kind: 'refused-url', reason: (error as Error).message });
      if (code !== undefined && NOT_SENT.has(code)) throw new SentryApiError({ kind: 'unreachable' });
      throw new SentryApiError({ kind: 'no-answer', change });
    }
    const { status } = response;
    const exhausted = exhaustedUntil(response.headers, this.now());
    if (exhausted !== undefined) this.gate.hold(this.gateKey, exhausted);
    if (status >= 200 && status < 300) {
      try {
        return response.body.length === 0 ? {} : JSON.parse(response.body.toString('utf8'));
      } catch {
        throw new SentryApiError({ kind: 'unexpected', status });
      }
    }
    if (status >= 300 && status < 400) throw new SentryApiError({ kind: 'redirect' });
    if (status === 401) throw new SentryApiError({ kind: 'revoked' });
    if (status === 403) throw new SentryApiError({ kind: 'forbidden', scope });
    if (status === 404) throw new SentryApiError({ kind: 'not-found' });
    if (status === 429) {
      const now = this.now();
      const retryAt = retryAtOf(response.headers, now);
      this.gate.hold(this.gateKey, retryAt ?? now + DEFAULT_HOLD_MS);
      throw new SentryApiError({ kind: 'rate-limited', ...(retryAt !== undefined ? { retryAfterSeconds: (retryAt - now) / 1000 } : {}) });
    }
    if (status >= 500) throw new SentryApiError({ kind: 'server-error', status, change });
    throw new SentryApiError({ kind: 'unexpected', status });
  }

  private send(
    url: URL,
    method: string,
    payload: Buffer | undefined,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          lookup: guardedLookup(this.policy, this.resolve),
          timeout: this.policy.timeoutMs,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(Object.assign(new Error('response too large'), { code: 'ETOOLARGE' }));
            else chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      // A whole-call deadline too: `timeout` only covers idle sockets.
      const deadline = setTimeout(() => req.destroy(Object.assign(new Error('deadline'), { code: 'ETIMEDOUT' })), this.policy.timeoutMs);
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.on('close', () => clearTimeout(deadline));
      req.end(payload);
    });
  }
}

const enc = encodeURIComponent;

/** Connection errors that happen before a request is written: Sentry never saw it. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** After a change Sentry may or may not have made: how the clicker is told, and that the card will be set right. */
const MAY_STILL_APPLY = 'the change may still apply — the card will follow what Sentry does.';

/** A Sentry problem in words for the member who clicked: what happened, what to do. Nothing Sentry wrote. */
export function describeSentryProblem(problem: SentryProblem): string {
  switch (problem.kind) {
    case 'refused-url':
      return problem.reason;
    case 'unreachable':
      return 'Sentry could not be reached. Nothing was changed; try again in a moment.';
    case 'no-answer':
      return problem.change ? `Sentry did not answer in time; ${MAY_STILL_APPLY}` : 'Sentry did not answer in time; try again in a moment.';
    case 'server-error':
      return problem.change
        ? `Sentry failed to answer (${problem.status}); the change was most likely not made, but ${MAY_STILL_APPLY}`
        : `Sentry failed to answer (${problem.status}); try again in a moment.`;
    case 'revoked':
      return "Sentry refused the token (401): it was revoked or is wrong. Reconnect with `/dispatch source connect` and the integration's current token.";
    case 'forbidden':
      return `The token lacks the \`${problem.scope}\` scope. In Sentry, give the internal integration that permission (Issue & Event: Read & Write for triage; Organization and Team/Project read for the assign list), then reconnect.`;
    case 'not-found':
      return 'Sentry does not know this issue any more (404): it was deleted or merged, or the token belongs to another organization.';
    case 'rate-limited':
      return `Sentry is rate-limiting the token${problem.retryAfterSeconds !== undefined ? `: try again in ${Math.max(1, Math.ceil(problem.retryAfterSeconds))} s` : '; try again shortly'}. Nothing was changed.`;
    case 'redirect':
      return "Sentry's URL answered with a redirect, which Dispatch does not follow. Use the final address with `/dispatch source connect`.";
    case 'unexpected':
      return `Sentry answered in a way Dispatch did not expect (${problem.status}). Nothing was changed as far as Dispatch knows; try again, or open the issue in Sentry.`;
  }
}

/** A change whose outcome Sentry did not say: the issue is read back a little later to set the card right. */
export function outcomeUnknown(problem: SentryProblem): boolean {
  return (problem.kind === 'no-answer' || problem.kind === 'server-error') && problem.change;
}
