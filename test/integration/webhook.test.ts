import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/sentry/verify.js';
import { startHarness, type Harness } from '../support/harness.js';
import { loadFixture, sentryRequest, serializeLikeSentry } from '../support/sentry.js';

const SECRET = 'integration-client-secret';
const issueCreated = loadFixture('issue.created.json');

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Posts, then lets the worker run, and reports how many messages reached Discord meanwhile. */
async function postAndCountMessages(slug: string, request: { body: string | Buffer; headers: Record<string, string> }) {
  const before = h.discord.messages.length;
  const response = await h.post(slug, request);
  await new Promise((r) => setTimeout(r, 150));
  return { response, posted: h.discord.messages.length - before, json: await response.json().catch(() => undefined) };
}

describe('POST /hooks/:slug', () => {
  it('accepts a signed Sentry issue.created with 202 and posts exactly one embed to the bound channel', async () => {
    const source = await h.addSource({ secret: SECRET });
    const response = await h.post(source.slug, sentryRequest('issue', issueCreated, SECRET));
    expect(response.status).toBe(202);
    const { event_id } = (await response.json()) as { event_id: string };
    expect(event_id).toMatch(/^[0-9a-f-]{36}$/);

    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(message.embeds).toHaveLength(1);
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [] });
    const embed = message.embeds[0] as { title?: string; footer?: { text: string } };
    expect(embed.footer?.text).toContain('issue.created');
    await new Promise((r) => setTimeout(r, 150));
    expect(h.discord.messagesIn(source.channelId)).toHaveLength(1);
    const auth = h.discord.requests.find((r) => r.path === `/channels/${source.channelId}/messages`)?.authorization;
    expect(auth).toBe('Bot test-token');
  });

  it('skips verification for a source without a secret', async () => {
    const source = await h.addSource({ secret: null });
    const { response, posted } = await postAndCountMessages(source.slug, sentryRequest('issue', issueCreated));
    expect(response.status).toBe(202);
    expect(posted).toBe(1);
  });

  describe('refuses, posting nothing', () => {
    const cases: [string, (slug: string) => { body: string | Buffer; headers: Record<string, string> }, number, string][] = [
      ['a wrong signature', () => ({ ...sentryRequest('issue', issueCreated, 'wrong-secret') }), 401, 'signature mismatch'],
      [
        'a missing signature',
        () => {
          const r = sentryRequest('issue', issueCreated);
          return r;
        },
        401,
        'missing signature',
      ],
      [
        'a tampered body',
        () => {
          const r = sentryRequest('issue', issueCreated, SECRET);
          return { ...r, body: r.body.replace('fatal', 'debug') };
        },
        401,
        'signature mismatch',
      ],
      [
        'a non-hex signature',
        () => {
          const r = sentryRequest('issue', issueCreated, SECRET);
          return { ...r, headers: { ...r.headers, 'sentry-hook-signature': 'z'.repeat(64) } };
        },
        401,
        'malformed signature',
      ],
      ['invalid JSON', () => signed('{"action":"created",'), 400, 'body is not valid JSON'],
      ['an empty body', () => signed(''), 400, 'body is not valid JSON'],
      ['a JSON array', () => signed('[1,2]'), 400, 'body must be a JSON object'],
      [
        'a missing sentry-hook-resource header',
        () => {
          const r = sentryRequest('issue', issueCreated, SECRET);
          const { 'sentry-hook-resource': _, ...headers } = r.headers;
          return { ...r, headers };
        },
        400,
        'missing sentry-hook-resource header',
      ],
      ['a body without an action', () => signed('{"data":{}}'), 400, 'body has no valid "action"'],
    ];

    function signed(body: string) {
      return {
        body,
        headers: { 'content-type': 'application/json', 'sentry-hook-resource': 'issue', 'sentry-hook-signature': sign(body, SECRET) },
      };
    }

    it.each(cases)('%s', async (_name, build, status, error) => {
      const source = await h.addSource({ secret: SECRET });
      const { response, posted, json } = await postAndCountMessages(source.slug, build(source.slug));
      expect(response.status).toBe(status);
      expect(json).toEqual({ error });
      expect(response.headers.get('sentry-hook-error')).toBe(error);
      expect(posted).toBe(0);
    });

    it('an unknown, a disabled and a deleted source all get the same 404', async () => {
      const { setSourceEnabled, deleteSource } = await import('../../src/db/sources.js');
      const disabled = await setSourceEnabled(h.dispatch.db, await h.addSource({ secret: SECRET }), false, Date.now());
      const deleted = await h.addSource({ secret: SECRET });
      await deleteSource(h.dispatch.db, deleted);
      const answers = [];
      for (const slug of ['A'.repeat(32), disabled.slug, deleted.slug, '..%2F..%2Fetc', 'x']) {
        const { response, posted, json } = await postAndCountMessages(slug, sentryRequest('issue', issueCreated, SECRET));
        answers.push([response.status, json, posted]);
      }
      expect(answers).toEqual(Array(5).fill([404, { error: 'unknown source' }, 0]));
    });

    it('a body over MAX_BODY_BYTES gets 413', async () => {
      const small = await startHarness({ env: { MAX_BODY_BYTES: '1024' } });
      try {
        const source = await small.addSource({ secret: SECRET });
        const big = { ...issueCreated, padding: 'x'.repeat(2000) };
        const response = await small.post(source.slug, sentryRequest('issue', big, SECRET));
        expect(response.status).toBe(413);
        expect(await response.json()).toEqual({ error: 'body too large' });
        await new Promise((r) => setTimeout(r, 100));
        expect(small.discord.messages).toHaveLength(0);
      } finally {
        await small.close();
      }
    });

    it('a non-JSON content type gets 415', async () => {
      const source = await h.addSource({ secret: SECRET });
      const r = sentryRequest('issue', issueCreated, SECRET);
      const { response, posted } = await postAndCountMessages(source.slug, {
        ...r,
        headers: { ...r.headers, 'content-type': 'text/plain' },
      });
      expect(response.status).toBe(415);
      expect(posted).toBe(0);
    });
  });

  it('answers 405 to other methods on a hook URL', async () => {
    const source = await h.addSource({ secret: SECRET });
    const response = await fetch(`${h.dispatch.url}/hooks/${source.slug}`);
    expect(response.status).toBe(405);
  });

  it('keeps the Sentry serialization byte-exact: the fixture body is compact and ASCII', () => {
    const body = serializeLikeSentry(issueCreated);
    expect(body.startsWith('{"action":"created","installation":')).toBe(true);
  });
});

describe('GET /healthz', () => {
  it('reports the database and the gateway', async () => {
    const response = await fetch(`${h.dispatch.url}/healthz`);
    expect(response.status).toBe(200);
    const health = (await response.json()) as { database: string; discord: { gateway: string }; queue: { depth: number } };
    expect(health.database).toBe('ok');
    expect(typeof health.discord.gateway).toBe('string');
    expect(health.queue.depth).toBeGreaterThanOrEqual(0);
  });
});
