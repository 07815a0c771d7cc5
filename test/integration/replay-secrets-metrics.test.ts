import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSecretBox, SecretKeyError } from '../../src/db/secret-box.js';
import { startDispatch } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import { sourceRow } from '../support/db.js';
import { openTestDatabase, preparedDatabase, startHarness, TEST_DIALECT, type Harness } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { compiled } from '../support/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const issue = loadFixture('issue.created.json');
const withShortId = (id: string) => ({ ...issue, data: { issue: { ...(issue.data as { issue: object }).issue, shortId: id } } });
const silent = createLogger({ level: 'silent', pretty: false });

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('replay window on Sentry-Hook-Timestamp', () => {
  it('refuses a timestamp more than 5 minutes off, by the injected clock', async () => {
    const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
    h = await startHarness({ start: { now: () => clock.now } });
    const source = await h.addSource({ secret: 's' });
    const nowS = clock.now / 1000;
    const send = (ts: string, id: string) => {
      const r = sentryRequest('issue', withShortId(id), 's');
      return h!.post(source.slug, { ...r, headers: { ...r.headers, 'sentry-hook-timestamp': ts } });
    };
    const old = await send(String(nowS - 301), 'R-1');
    expect(old.status).toBe(401);
    expect(old.headers.get('sentry-hook-error')).toBe('timestamp too old');
    expect((await send(String(nowS + 301), 'R-2')).headers.get('sentry-hook-error')).toBe('timestamp in the future');
    expect((await send('soon', 'R-3')).headers.get('sentry-hook-error')).toBe('invalid timestamp');
    expect((await send(String(nowS - 299), 'R-4')).status).toBe(202);
    clock.now += 10 * 60_000; // the same kind of request, ten minutes later by our clock, is now stale
    expect((await send(String(nowS - 299), 'R-5')).status).toBe(401);
  });

  it('takes its tolerance from TIMESTAMP_TOLERANCE', async () => {
    h = await startHarness({ env: { TIMESTAMP_TOLERANCE: '30s' } });
    const source = await h.addSource({ secret: null });
    const r = sentryRequest('issue', issue, undefined, Math.floor(Date.now() / 1000) - 45);
    expect((await h.post(source.slug, r)).status).toBe(401);
  });
});

describe('signing secrets at rest', () => {
  async function withDatabase() {
    const prepared = await preparedDatabase({ secret: 'plain-old-secret' });
    const start = (env: Record<string, string> = {}) => startDispatch(loadConfig(prepared.env(env)), silent);
    const stored = async () => {
      const db = await openTestDatabase(prepared.path, prepared.env());
      const value = (await sourceRow(db, prepared.source.id)).signingSecret!;
      await db.close();
      return value;
    };
    return { ...prepared, start, stored };
  }

  it('encrypts plain-text secrets at start-up, verifies webhooks with them, and re-seals on key rotation', async () => {
    const t = await withDatabase();
    try {
      const key = randomBytes(32);
      const first = await t.start({ DISPATCH_ENCRYPTION_KEY: key.toString('base64') });
      expect(await t.stored()).toMatch(new RegExp(`^enc:v1:${createSecretBox(key).keyId}:`));
      expect(await t.stored()).not.toContain('plain-old-secret');
      const request = sentryRequest('issue', issue, 'plain-old-secret');
      expect(
        (await fetch(`${first.url}/hooks/${t.source.slug}`, { method: 'POST', body: request.body, headers: request.headers })).status,
      ).toBe(202);
      const wrong = sentryRequest('issue', withShortId('W'), 'other');
      expect(
        (await fetch(`${first.url}/hooks/${t.source.slug}`, { method: 'POST', body: wrong.body, headers: wrong.headers })).status,
      ).toBe(401);
      await first.stop();

      const next = randomBytes(32);
      const rotated = await t.start({
        DISPATCH_ENCRYPTION_KEY: next.toString('hex'),
        DISPATCH_ENCRYPTION_KEY_PREVIOUS: key.toString('base64'),
      });
      expect(await t.stored()).toMatch(new RegExp(`^enc:v1:${createSecretBox(next).keyId}:`));
      await rotated.stop();

      await expect(t.start({ DISPATCH_ENCRYPTION_KEY: randomBytes(32).toString('hex') })).rejects.toThrow(SecretKeyError);
      await expect(t.start()).rejects.toThrow(/set DISPATCH_ENCRYPTION_KEY/);
    } finally {
      await t.cleanup();
    }
  });

  it('npm start with the wrong key prints one clear line and exits 1', async () => {
    const t = await withDatabase();
    try {
      (await t.start({ DISPATCH_ENCRYPTION_KEY: randomBytes(32).toString('hex') })).stop();
      const env = { PATH: process.env.PATH!, ...t.env({ DISPATCH_ENCRYPTION_KEY: randomBytes(32).toString('hex') }) };
      const run = await promisify(execFile)(process.execPath, [compiled('index')], { cwd: ROOT, env }).catch((e) => e);
      expect(run.code).toBe(1);
      const lines = String(run.stderr).trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^dispatch: could not start: DISPATCH_ENCRYPTION_KEY is not the key this database's secrets are sealed with/,
      );
    } finally {
      await t.cleanup();
    }
  });

  // Postgres has no file to keep a key beside: DISPATCH_ENCRYPTION_KEY is required there (config.test.ts).
  it.runIf(TEST_DIALECT === 'sqlite')(
    'without a key set, makes a key file beside the database (0600) and logs where, never what; never logs a secret',
    async () => {
      h = await startHarness({ captureLogs: true });
      const keyFile = h.config.keyFile!;
      expect(keyFile).toBe(join(dirname(h.databasePath), 'dispatch.key'));
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const key = readFileSync(keyFile, 'utf8').trim();
      const made = h.logLines.filter((l) => l.includes('made a key file'));
      expect(made).toHaveLength(1);
      expect(JSON.parse(made[0]!)).toMatchObject({ key_file: keyFile });
      const source = await h.addSource({ secret: 'never-log-me-0123' });
      await h.postEvent(source, 'issue', issue);
      const bad = sentryRequest('issue', withShortId('X'), 'wrong');
      await h.post(source.slug, bad);
      await h.discord.waitForMessage();
      expect(h.logLines.length).toBeGreaterThan(3);
      for (const line of h.logLines) {
        expect(line).not.toContain(key);
        expect(line).not.toContain('never-log-me-0123');
        expect(line).not.toContain('test-token');
        expect(line).not.toContain(bad.headers['sentry-hook-signature']);
      }
      const accepted = h.logLines.find((l) => l.includes('"outcome":"accepted"'));
      expect(accepted).toBeDefined();
      expect(JSON.parse(accepted!)).toMatchObject({ event_type: 'issue.created', source_id: source.id, guild_id: source.guildId });
      await expect.poll(() => h!.logLines.some((l) => l.includes('"outcome":"delivered"'))).toBe(true);
      const delivered = JSON.parse(h.logLines.find((l) => l.includes('"outcome":"delivered"'))!);
      expect(delivered).toMatchObject({ source_id: source.id, guild_id: source.guildId, event_type: 'issue.created' });
      expect(delivered.event_id).toMatch(/^[0-9a-f-]{36}$/);
    },
  );
});

describe('GET /healthz', () => {
  it('answers 503 when the database is unusable (with Postgres, 200 while the spool takes webhooks)', async () => {
    h = await startHarness();
    expect((await fetch(`${h.dispatch.url}/healthz`)).status).toBe(200);
    await h.dispatch.db.close();
    const response = await fetch(`${h.dispatch.url}/healthz`);
    if (TEST_DIALECT === 'sqlite') {
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable', database: 'error' });
    } else {
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'degraded', database: 'away', spooled: 0 });
    }
  });
});

describe('GET /metrics', () => {
  const value = (text: string, line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

  it('counts webhooks by status and type, deliveries, queue depth and process metrics, and the numbers move', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: 's' });
    const scrape = async () => (await fetch(`${h!.dispatch.url}/metrics`)).text();
    const before = await scrape();
    expect(before).toContain('dispatch_process_resident_memory_bytes');
    expect(before).not.toContain('dispatch_dispatch_');
    expect(before).toContain('dispatch_queue_depth 0');

    await h.postEvent(source, 'issue', withShortId('M-1'));
    await h.postEvent(source, 'issue', withShortId('M-2'));
    await h.post(source.slug, sentryRequest('issue', withShortId('M-3'), 'wrong'));
    await h.discord.waitForMessages(2, h.channelId);
    await expect.poll(async () => value(await scrape(), 'dispatch_deliveries_total{outcome="delivered"}')).toBe(2);
    const after = await scrape();
    expect(value(after, 'dispatch_webhooks_total{status="202",event_type="issue.created"}')).toBe(2);
    expect(value(after, 'dispatch_webhooks_total{status="401",event_type="unknown"}')).toBe(1);
    expect(value(after, 'dispatch_delivery_latency_seconds_count')).toBe(2);
  });

  it('counts Discord rate limits', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    h.discord.inject(
      [
        {
          status: 429,
          body: { message: 'slow down', retry_after: 0.2, global: false },
          headers: { 'retry-after': '0.2', 'x-ratelimit-scope': 'user' },
        },
      ],
      h.channelId,
    );
    await h.postEvent(source, 'issue', issue);
    await h.discord.waitForMessage();
    expect(value(await (await fetch(`${h.dispatch.url}/metrics`)).text(), 'dispatch_discord_rate_limit_hits_total{kind="429"}')).toBe(1);
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    h = await startHarness({ env: { METRICS_TOKEN: 'scrape-me' } });
    expect((await fetch(`${h.dispatch.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${h.dispatch.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await fetch(`${h.dispatch.url}/metrics`, { headers: { authorization: 'Bearer scrape-me' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('dispatch_webhooks_total');
  });
});
