import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/sentry/verify.js';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { allEvents, sourceRow } from '../support/db.js';
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

/**
 * Posts, and reports how many events were stored meanwhile: a refused webhook stores nothing, so
 * nothing can be posted for it, now or later (no sleep needed to see that).
 */
async function postAndCountStored(slug: string, request: { body: string | Buffer; headers: Record<string, string> }) {
  const before = (await allEvents(h.dispatch.db)).length;
  const response = await h.post(slug, request);
  return { response, stored: (await allEvents(h.dispatch.db)).length - before, json: await response.json().catch(() => undefined) };
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
    const { response, stored } = await postAndCountStored(source.slug, sentryRequest('issue', issueCreated));
    expect(response.status).toBe(202);
    expect(stored).toBe(1);
    await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
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
      const { response, stored, json } = await postAndCountStored(source.slug, build(source.slug));
      expect(response.status).toBe(status);
      expect(json).toEqual({ error });
      expect(response.headers.get('sentry-hook-error')).toBe(error);
      expect(stored).toBe(0);
    });

    it('an unknown, a disabled and a deleted source all get the same 404', async () => {
      const { setSourceEnabled, deleteSource } = await import('../../src/db/sources.js');
      const disabled = await setSourceEnabled(h.dispatch.db, await h.addSource({ secret: SECRET }), false, Date.now());
      const deleted = await h.addSource({ secret: SECRET });
      await deleteSource(h.dispatch.db, deleted, Date.now());
      const answers = [];
      for (const slug of ['A'.repeat(32), disabled.slug, deleted.slug, '..%2F..%2Fetc', 'x']) {
        const { response, stored, json } = await postAndCountStored(slug, sentryRequest('issue', issueCreated, SECRET));
        answers.push([response.status, json, stored]);
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
        expect(await allEvents(small.dispatch.db)).toHaveLength(0);
      } finally {
        await small.close();
      }
    });

    it('a non-JSON content type gets 415', async () => {
      const source = await h.addSource({ secret: SECRET });
      const r = sentryRequest('issue', issueCreated, SECRET);
      const { response, stored } = await postAndCountStored(source.slug, {
        ...r,
        headers: { ...r.headers, 'content-type': 'text/plain' },
      });
      expect(response.status).toBe(415);
      expect(stored).toBe(0);
    });
  });

  it('answers 405 to other methods on a hook URL', async () => {
    const source = await h.addSource({ secret: SECRET });
    const response = await fetch(`${h.dispatch.url}/hooks/${source.slug}`);
    expect(response.status).toBe(405);
  });

  it('checks the signature on the bytes as Sentry sent them, not on a re-serialization of the payload', async () => {
    const source = await h.addSource({ secret: SECRET });
    const payload = {
      ...issueCreated,
      data: { issue: { ...(issueCreated.data as { issue: object }).issue, title: 'Fehler: Größe — 日本' } },
    };
    // Sentry escapes non-ASCII as \uXXXX; JSON.stringify of the same payload gives other bytes.
    const asSentry = serializeLikeSentry(payload);
    expect(asSentry).toContain('\\u00f6');
    const reserialized = JSON.stringify(JSON.parse(asSentry));
    expect(reserialized).not.toBe(asSentry);
    const accepted = await h.post(source.slug, sentryRequest('issue', payload, SECRET));
    expect(accepted.status).toBe(202);
    // The signature of Sentry's bytes does not cover other bytes of the same payload.
    const headers = { ...sentryRequest('issue', payload, SECRET).headers, 'sentry-hook-signature': sign(asSentry, SECRET) };
    expect((await h.post(source.slug, { body: reserialized, headers })).status).toBe(401);
  });
});

describe('GET /healthz', () => {
  type Health = {
    status: string;
    database: string;
    discord: { gateway: string };
    queue: { depth: number; oldest_pending_age_ms: number | null };
  };
  const health = async () => (await (await fetch(`${h.dispatch.url}/healthz`)).json()) as Health;

  it('reports the database, the gateway, and exactly what waits to be delivered', async () => {
    await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
    await expect.poll(async () => (await health()).queue.depth, { timeout: 5000 }).toBe(0);
    expect(await health()).toMatchObject({
      status: 'ok',
      database: 'ok',
      discord: { gateway: 'ready' },
      queue: { oldest_pending_age_ms: null },
    });
    // One event whose send Discord holds: it is the one delivery waiting.
    const source = await h.addSource({ secret: null, channelId: h.guild.channels[1]!.id });
    let release: () => void = () => {};
    h.discord.inject([{ status: 200, answerAfter: new Promise<void>((resolve) => (release = resolve)) }], source.channelId);
    expect((await h.post(source.slug, sentryRequest('issue', issueCreated))).status).toBe(202);
    await waitFor(() => h.discord.messagesIn(source.channelId).length === 1, 5000, 'the held send');
    const waiting = await health();
    expect(waiting.queue.depth).toBe(1);
    expect(waiting.queue.oldest_pending_age_ms).toBeGreaterThanOrEqual(0);
    release();
    await expect.poll(async () => (await health()).queue.depth, { timeout: 5000 }).toBe(0);
  });
});

/**
 * Dispatch stores events of its own (`dispatch.triage`, `dispatch.sync`, `dispatch.digest`) that
 * are never held, never counted as received, left out of digests and flood summaries, and whose
 * digest text is drawn as Dispatch wrote it. A webhook naming that resource, in any spelling the
 * event-type grammar reads as `dispatch`, is refused before anything is stored.
 */
describe('a webhook cannot pass for one of Dispatch’s own events', () => {
  const RESERVED = "sentry-hook-resource 'dispatch' is reserved for Dispatch's own events";
  const SPELLINGS = [
    'dispatch',
    'Dispatch',
    'DISPATCH',
    ' DISPATCH ',
    'dispatch ',
    '\tdispatch',
    '-dispatch',
    '_dispatch',
    '1dispatch',
    '..DiSpAtCh',
  ];
  const ACTIONS = ['digest', 'sync', 'triage', 'Digest', ' SYNC ', 'created', 'no such action'];
  const PHISH = '[Sign in again to Sentry](https://evil.example/login) **now**';

  it.each(SPELLINGS)(
    'Sentry-Hook-Resource %j is refused with 400 for every action, signed or not, and nothing is stored',
    async (spelling) => {
      const open = await h.addSource({ secret: null });
      const signed = await h.addSource({ secret: SECRET });
      for (const action of ACTIONS) {
        const payload = { action, data: { title: '📋 Daily digest · main', description: PHISH, kind: 'scheduled' } };
        for (const [source, secret] of [
          [open, undefined],
          [signed, SECRET],
        ] as const) {
          const { response, stored, json } = await postAndCountStored(source.slug, sentryRequest(spelling, payload, secret));
          expect({ spelling, action, status: response.status, json, stored }).toEqual({
            spelling,
            action,
            status: 400,
            json: { error: RESERVED },
            stored: 0,
          });
          expect(response.headers.get('sentry-hook-error')).toBe(RESERVED);
        }
      }
    },
  );

  it('beside a real event: the real one is posted and counted, the forged digest never reaches Discord, and no own event is stored', async () => {
    const source = await h.addSource({ secret: null });
    const forged = await h.post(
      source.slug,
      sentryRequest('dispatch', { action: 'digest', data: { title: '📋 Daily digest · main', description: PHISH, kind: 'scheduled' } }),
    );
    expect(forged.status).toBe(400);
    const real = await h.post(source.slug, sentryRequest('issue', issueCreated));
    expect(real.status).toBe(202);
    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    const mine = (await allEvents(h.dispatch.db)).filter((e) => e.sourceId === source.id);
    expect(mine.map((e) => e.eventType)).toEqual(['issue.created']);
    expect((await sourceRow(h.dispatch.db, source.id)).eventsReceived).toBe(1);
    expect(JSON.stringify(h.discord.messagesIn(source.channelId))).not.toContain('evil.example');
    expect(message.embeds).toHaveLength(1);
  });
});
