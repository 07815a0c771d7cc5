import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback Sentry web API for triage tests: the endpoints Dispatch calls, Sentry's answers
 * (including 401/403/404/429/5xx and slow ones on demand), a bearer token check, and a record of
 * every request.
 */
export interface SentryRequest {
  method: string;
  path: string;
  /** The query string's parameters, a name repeated as often as it was sent. */
  query: [string, string][];
  authorization: string | undefined;
  body: any;
}

export interface FakeSentryOptions {
  token: string;
  org?: string;
  scopes?: string[];
}

export interface Injected {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Answer this many ms late. */
  delayMs?: number;
  /** Carry the request out as usual (a slow PUT Sentry still applies), then answer as injected: its body, else Sentry's own. */
  apply?: boolean;
}

export class FakeSentry {
  readonly requests: SentryRequest[] = [];
  /** Issues by id: what a PUT changes and a GET shows. */
  readonly issues = new Map<string, Record<string, unknown>>();
  readonly members = [
    {
      id: '1',
      email: 'alice@example.com',
      name: 'Alice',
      user: { id: '501', name: 'Alice', username: 'alice', email: 'alice@example.com' },
    },
    { id: '2', email: 'bob@example.com', name: 'Bob', user: { id: '502', name: 'Bob', username: 'bob', email: 'bob@example.com' } },
    { id: '3', email: 'invited@example.com', name: 'invited@example.com' }, // an invitation: no user yet
  ];
  readonly teams = [{ id: '77', slug: 'backend', name: 'Backend' }];
  /** Personal tokens (User Settings → Personal Tokens): whose each is, and its scopes. Sentry acts as that user with it. */
  readonly personal = new Map<string, { user: { id: string; name: string; username: string; email: string }; scopes: string[] }>();
  private readonly injected: Injected[] = [];
  private constructor(
    private readonly server: Server,
    readonly options: Required<FakeSentryOptions>,
  ) {}

  static async start(options: FakeSentryOptions): Promise<FakeSentry> {
    const server = createServer();
    const fake = new FakeSentry(server, {
      org: 'example-org',
      scopes: ['event:read', 'event:write', 'member:read', 'project:read', 'org:read'],
      ...options,
    });
    server.on('request', (req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => void fake.answer(req.method ?? 'GET', req.url ?? '/', req.headers.authorization, text, res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next requests get these answers, in order. */
  inject(...responses: Injected[]): void {
    this.injected.push(...responses);
  }

  /** A person's own token: the loopback Sentry answers it as that user (a member of the organization). */
  addPersonalToken(
    token: string,
    user: { id: string; name: string; email: string },
    scopes = ['event:read', 'event:write', 'member:read'],
  ): void {
    this.personal.set(token, { user: { ...user, username: user.email.split('@')[0]! }, scopes });
  }

  /** PUTs to issues, in order. */
  updates(): SentryRequest[] {
    return this.requests.filter((r) => r.method === 'PUT');
  }

  /** Requests for the issue list (the card read-back), in order. */
  listings(): SentryRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && /\/issues\/$/.test(r.path) && !/\/issues\/\d+\/$/.test(r.path));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(method: string, url: string, authorization: string | undefined, text: string, res: ServerResponse) {
    const [path, search = ''] = url.split('?') as [string, string?];
    const query = [...new URLSearchParams(search)];
    const body = text ? JSON.parse(text) : undefined;
    this.requests.push({ method, path, query, authorization, body });
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(payload));
    };
    const injected = this.injected.shift();
    if (injected) {
      const done = injected.apply ? this.carryOut(method, path, query, authorization, body) : undefined;
      if (injected.delayMs) await new Promise((r) => setTimeout(r, injected.delayMs));
      if (res.destroyed) return;
      const answer = injected.body ?? done?.body ?? { detail: 'secret-looking body <@&1> that must never be shown' };
      return json(injected.status, answer, injected.headers);
    }
    const answer = this.carryOut(method, path, query, authorization, body);
    json(answer.status, answer.body);
  }

  /** What Sentry does with a request, and its answer. */
  private carryOut(
    method: string,
    path: string,
    query: [string, string][],
    authorization: string | undefined,
    body: any,
  ): { status: number; body: unknown } {
    const json = (status: number, payload: unknown) => ({ status, body: payload });
    const person = this.personal.get(authorization?.replace(/^Bearer /, '') ?? '');
    if (authorization !== `Bearer ${this.options.token}` && !person) return json(401, { detail: 'Invalid token' });
    // `*`: one Sentry answering for any organization (the simulation's payloads name several).
    const org = this.options.org === '*' ? '[^/]+' : this.options.org;
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/api/0/') {
      // An integration's token is its proxy user, which has no email; a person's is theirs.
      if (person) return json(200, { version: '0', auth: { scopes: person.scopes }, user: { ...person.user, isActive: true } });
      return json(200, {
        version: '0',
        auth: { scopes: this.options.scopes },
        user: { id: '9', name: 'Dispatch Triage', username: 'dispatch-triage-abc', email: '' },
      });
    }
    if (method === 'GET' && (m = new RegExp(`^/api/0/organizations/(${org})/shortids/([^/]+)/$`).exec(path))) {
      const found = [...this.issues].find(([, issue]) => String(issue.shortId ?? '').toUpperCase() === decodeURIComponent(m![2]!));
      if (!found) return json(404, { detail: 'The requested resource does not exist' });
      const [id, issue] = found;
      return json(200, { organizationSlug: m[1], projectSlug: 'python', groupId: id, group: { id, ...issue }, shortId: issue.shortId });
    }
    if (method === 'GET' && new RegExp(`^/api/0/organizations/${org}/issues/$`).test(path)) {
      // Issues looked up by id: those Sentry has, in no particular order; the rest left out.
      const ids = query.filter(([name]) => name === 'group').map(([, id]) => id);
      return json(200, ids.flatMap((id) => (this.issues.has(id) ? [{ id, ...this.issues.get(id) }] : [])).reverse());
    }
    if ((m = new RegExp(`^/api/0/organizations/${org}/issues/(\\d+)/$`).exec(path))) {
      const issue = this.issues.get(m[1]!) ?? { id: m[1], status: 'unresolved', substatus: 'ongoing', assignedTo: null };
      if (method === 'GET') return json(200, { id: m[1], ...issue });
      if (method === 'PUT') {
        const next: Record<string, unknown> = { ...issue };
        if (body.status !== undefined) next.status = body.status === 'resolvedInNextRelease' ? 'resolved' : body.status;
        if (body.substatus !== undefined) next.substatus = body.substatus;
        else if (body.status !== undefined && body.status !== 'unresolved') next.substatus = null;
        if (body.status === 'resolvedInNextRelease') next.statusDetails = { inNextRelease: true };
        else if (body.status !== undefined) next.statusDetails = {};
        // Archived until a condition: Sentry keeps when it ends (ignoreUntil) or how many more events (ignoreCount).
        const details = body.statusDetails ?? {};
        if (details.ignoreDuration !== undefined)
          next.statusDetails = { ignoreUntil: new Date(Date.now() + details.ignoreDuration * 60_000).toISOString(), ignoreCount: null };
        if (details.ignoreCount !== undefined) next.statusDetails = { ignoreCount: details.ignoreCount, ignoreUntil: null };
        if (body.assignedTo !== undefined) {
          const [type, id] = String(body.assignedTo).split(':');
          // The API names a team by its slug, a user by their name (a webhook names a team by its display name).
          const name =
            type === 'team' ? this.teams.find((t) => t.id === id)?.slug : this.members.find((mem) => mem.user?.id === id)?.user?.name;
          next.assignedTo = body.assignedTo === '' ? null : { type, id, name: name ?? id };
        }
        this.issues.set(m[1]!, next);
        // Sentry answers a PUT with the fields it changed.
        const { id: _id, ...changed } = next;
        return json(200, changed);
      }
    }
    if (method === 'GET' && new RegExp(`^/api/0/organizations/${org}/members/$`).test(path)) return json(200, this.members);
    if (method === 'GET' && (m = new RegExp(`^/api/0/projects/${org}/([^/]+)/teams/$`).exec(path))) return json(200, this.teams);
    return json(404, { detail: 'The requested resource does not exist' });
  }
}
