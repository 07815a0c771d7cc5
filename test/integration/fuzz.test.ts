import { describe, expect, it } from 'vitest';
import { queueStats } from '../../src/db/queue.js';
import { allEvents } from '../support/db.js';
import { sign } from '../../src/sentry/verify.js';
import { startHarness } from '../support/harness.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture, serializeLikeSentry } from '../support/sentry.js';

/** mulberry32: a small seeded generator, so a failure replays exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const REQUESTS = 10_000;
const SECRET = 'fuzz-secret';

const samples = envelopeFixtures().map((file) => ({
  resource: eventTypeOfFixture(file).resource,
  body: Buffer.from(serializeLikeSentry(loadFixture(file))),
}));

function flipBytes(body: Buffer, r: ReturnType<typeof rng>): Buffer {
  const copy = Buffer.from(body);
  for (let i = 0, n = 1 + r.int(8); i < n && copy.length > 0; i++) copy[r.int(copy.length)] = r.int(256);
  return copy;
}

function truncate(body: Buffer, r: ReturnType<typeof rng>): Buffer {
  return body.subarray(0, r.int(body.length));
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

function generate(r: ReturnType<typeof rng>, slugs: { signed: string; open: string }): FuzzRequest {
  const sample = r.pick(samples);
  const headers = (body: Buffer, resource = sample.resource): Record<string, string> => ({
    'content-type': 'application/json',
    'sentry-hook-resource': resource,
    'sentry-hook-signature': sign(body, SECRET),
  });
  const post = (body: Buffer, h: Record<string, string>, slug = slugs.signed): FuzzRequest => ({
    method: 'POST',
    path: `/hooks/${slug}`,
    headers: h,
    body,
  });
  switch (r.int(10)) {
    case 0:
    case 1: // a real payload, correctly signed: accepted
      return post(sample.body, headers(sample.body));
    case 2: // signed, then bytes flipped: the signature no longer matches
      return post(flipBytes(sample.body, r), headers(sample.body));
    case 3: {
      // bytes flipped, then signed: invalid JSON or UTF-8, or a still-valid payload
      const body = flipBytes(sample.body, r);
      return post(body, headers(body));
    }
    case 4: {
      // truncated, then signed
      const body = truncate(sample.body, r);
      return post(body, headers(body));
    }
    case 5: {
      // headers swapped or broken
      const h = headers(sample.body);
      const other = r.pick(samples);
      const variant = r.int(5);
      if (variant === 0) h['sentry-hook-signature'] = sign(other.body, SECRET);
      if (variant === 1) h['sentry-hook-resource'] = r.pick(['', ' ', 'ISSUE', '../x', 'a'.repeat(100), other.resource, 'x-y']);
      if (variant === 2)
        h['content-type'] = r.pick([
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=x',
          'application/json; charset=latin1',
        ]);
      if (variant === 3) delete h['sentry-hook-signature'];
      if (variant === 4)
        h['sentry-hook-signature'] = r.pick([
          '',
          'sha256=',
          'zz',
          h['sentry-hook-signature']!.toUpperCase(),
          ` ${h['sentry-hook-signature']} `,
        ]);
      return post(sample.body, h);
    }
    case 6: {
      // random bytes, signed
      const body = Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256)));
      return post(body, headers(body));
    }
    case 7: {
      // odd slugs and methods
      const path = `/hooks/${r.pick(['', 'x', '..%2F..%2Fetc', '%00', 'A'.repeat(32), slugs.signed.toLowerCase(), encodeURIComponent('💥'.repeat(8)), `${slugs.signed}/extra`])}`;
      return { method: r.pick(['POST', 'GET', 'PUT', 'PATCH', 'DELETE']), path, headers: headers(sample.body), body: sample.body };
    }
    default: {
      // the source without a secret: whatever parses is accepted
      const mutate = r.pick([(b: Buffer) => b, (b: Buffer) => flipBytes(b, r), (b: Buffer) => truncate(b, r)]);
      const body = mutate(sample.body);
      const { 'sentry-hook-signature': _, ...h } = headers(body);
      return post(body, h, slugs.open);
    }
  }
}

describe('fuzz', () => {
  it(`${REQUESTS} random and mutated requests: no 5xx, nothing posted or stored for a rejected request, still healthy`, async () => {
    const h = await startHarness({ env: { BATCH_LINGER: '20ms' } });
    try {
      const signed = await h.addSource({ secret: SECRET });
      const open = await h.addSource({ secret: null, channelId: h.guild.channels[1]!.id });
      const r = rng(SEED);
      const statuses = new Map<number, number>();
      const accepted = new Set<string>();
      const rssBefore = process.memoryUsage().rss;
      let sent = 0;

      const worker = async () => {
        while (sent < REQUESTS) {
          sent += 1;
          const req = generate(r, { signed: signed.slug, open: open.slug });
          const response = await fetch(`${h.dispatch.url}${req.path}`, {
            method: req.method,
            headers: req.headers,
            body: req.method === 'GET' ? undefined : req.body,
          });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const text = await response.text();
          if (response.status === 202) accepted.add((JSON.parse(text) as { event_id: string }).event_id);
          else expect(Object.keys(JSON.parse(text) as object)).toEqual(['error']);
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));

      expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
      expect(statuses.get(202)).toBeGreaterThan(1000);
      expect(statuses.get(401)).toBeGreaterThan(500);
      expect(statuses.get(400)).toBeGreaterThan(100);

      // Exactly the accepted events are stored, and exactly they are posted once the queue drains.
      const stored = (await allEvents(h.dispatch.db)).map((e) => e.id);
      expect(new Set(stored)).toEqual(accepted);
      await expect.poll(async () => (await queueStats(h.dispatch.db, Date.now())).depth, { timeout: 60_000, interval: 200 }).toBe(0);
      const posted = h.discord.messages.reduce((n, m) => n + m.embeds.length, 0);
      expect(posted).toBe(accepted.size);

      const health = await fetch(`${h.dispatch.url}/healthz`);
      expect(health.status).toBe(200);
      const growthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
      expect(growthMb).toBeLessThan(300);
      console.log(
        `fuzz seed ${SEED}: ${JSON.stringify(Object.fromEntries(statuses))}, ${accepted.size} distinct events posted, rss +${growthMb.toFixed(0)} MiB`,
      );
    } finally {
      await h.close();
    }
  }, 120_000);
});
