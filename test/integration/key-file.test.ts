import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadOrCreateKeyFile } from '../../src/db/key-file.js';
import { createSecretBox } from '../../src/db/secret-box.js';
import { replaceStoredSecret } from '../../src/db/stored-secrets.js';
import { startDispatch, type Dispatch } from '../../src/dispatch.js';
import { asSourceId } from '../../src/ids.js';
import { createLogger } from '../../src/logger.js';
import { parseKey } from '../../src/secret-key.js';
import { sourceRow } from '../support/db.js';
import { FakeDiscord } from '../support/fake-discord.js';
import { FakeSentry } from '../support/fake-sentry.js';
import { openTestDatabase, preparedDatabase, tempDir, TEST_DIALECT, testEnv, testGuild } from '../support/harness.js';
import { databaseAtRelease } from '../support/previous-release.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

/**
 * Sealed by default: without DISPATCH_ENCRYPTION_KEY, signing secrets and Sentry tokens are sealed
 * with a key file made beside the database on first start. (On the postgres project the file is
 * named with DISPATCH_KEY_FILE and made by hand before the first start, as replicas sharing one
 * must: with DATABASE_URL Dispatch never makes it.)
 */

/**
 * Every synchronous call into node:fs, from the test and from Dispatch alike, ends by calling
 * `afterFsCall` when one is set: the race test runs a second process's start-up at that point.
 */
const fsCalls = vi.hoisted(() => ({ afterFsCall: undefined as (() => void) | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const wrapped = Object.fromEntries(
    Object.entries(fs).map(([name, value]) => [
      name,
      typeof value === 'function' && name.endsWith('Sync')
        ? (...args: unknown[]) => {
            const result = (value as (...a: unknown[]) => unknown)(...args);
            fsCalls.afterFsCall?.();
            return result;
          }
        : value,
    ]),
  );
  return { ...wrapped, default: wrapped };
});

const silent = createLogger({ level: 'silent', pretty: false });
const issue = loadFixture('issue.created.json');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function prepared({ secret = 'plain-old-secret' as string | null, keyFileByHand = TEST_DIALECT === 'postgres' } = {}) {
  const t = await preparedDatabase({ secret });
  cleanups.push(() => t.cleanup());
  const keyFile = join(dirname(t.path), 'dispatch.key');
  if (keyFileByHand) keyFileWith(keyFile);
  // No DISPATCH_ENCRYPTION_KEY: the key file (named, so that the postgres project uses one too).
  const env = (overrides: Record<string, string> = {}) => t.env({ DISPATCH_ENCRYPTION_KEY: '', DISPATCH_KEY_FILE: keyFile, ...overrides });
  const start = async (overrides: Record<string, string> = {}) => {
    const dispatch = await startDispatch(loadConfig(env(overrides)), silent);
    cleanups.push(() => dispatch.stop());
    return dispatch;
  };
  const stored = async () => {
    const db = await openTestDatabase(t.path, t.env());
    const value = (await sourceRow(db, t.source.id)).signingSecret!;
    await db.close();
    return value;
  };
  const post = (dispatch: Dispatch, secret: string) => {
    const request = sentryRequest('issue', issue, secret);
    return fetch(`${dispatch.url}/hooks/${t.source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
  };
  return { ...t, keyFile, start, stored, post };
}

const keyIdOf = (path: string) => createSecretBox(parseKey(readFileSync(path, 'utf8'))!).keyId!;

describe('sealed by default', () => {
  it('first start makes a 0600 key file and seals the plain secret with it; a restart opens it with the same file', async () => {
    const t = await prepared();
    const first = await t.start();
    expect(statSync(t.keyFile).mode & 0o777).toBe(0o600);
    expect(await t.stored()).toMatch(new RegExp(`^enc:v1:${keyIdOf(t.keyFile)}:`));
    expect((await t.post(first, 'plain-old-secret')).status).toBe(202);
    expect((await t.post(first, 'not-the-secret')).status).toBe(401);
    await first.stop();
    const key = readFileSync(t.keyFile, 'utf8');
    const second = await t.start();
    expect(readFileSync(t.keyFile, 'utf8')).toBe(key); // kept, not made again
    expect((await t.post(second, 'plain-old-secret')).status).toBe(202);
  });

  it('a key file that is not the database’s stops start-up naming the file; one holding no key too', async () => {
    const t = await prepared();
    await (await t.start()).stop();
    writeFileSync(t.keyFile, randomBytes(32).toString('base64'));
    await expect(t.start()).rejects.toThrow(
      `the key file ${t.keyFile} (DISPATCH_KEY_FILE) is not the key this database's secrets are sealed with`,
    );
    writeFileSync(t.keyFile, 'not a key');
    await expect(t.start()).rejects.toThrow(`the key file ${t.keyFile} does not hold a key`);
  });

  it('DISPATCH_ENCRYPTION_KEY wins: what the key file sealed is sealed again with it', async () => {
    const t = await prepared();
    await (await t.start()).stop();
    const key = randomBytes(32);
    const withVariable = await t.start({ DISPATCH_ENCRYPTION_KEY: key.toString('base64') });
    expect(await t.stored()).toMatch(new RegExp(`^enc:v1:${createSecretBox(key).keyId}:`));
    expect((await t.post(withVariable, 'plain-old-secret')).status).toBe(202);
  });
});

describe('two processes making the key file at once', () => {
  /** Process 1 makes the key file; at its `step`-th call into the file system, process 2 starts and runs to the end. */
  function race(path: string, step: number) {
    let calls = 0;
    let second: Buffer | string | undefined;
    fsCalls.afterFsCall = () => {
      if (++calls !== step) return;
      fsCalls.afterFsCall = undefined;
      try {
        second = loadOrCreateKeyFile(path).key;
      } catch (error) {
        second = (error as Error).message;
      }
    };
    try {
      return { first: loadOrCreateKeyFile(path).key, second, calls };
    } finally {
      fsCalls.afterFsCall = undefined;
    }
  }

  it('wherever the second one starts while the first makes the file, both get the one key the file holds, and no other file is left', () => {
    const dir = tempDir('dispatch-key-race-');
    cleanups.push(() => dir.remove());
    // How many calls process 1 makes on its own: the second one starts after each of them in turn.
    const { calls } = race(join(dir.path, 'alone.key'), 0);
    expect(calls).toBeGreaterThan(1);
    for (let step = 1; step <= calls; step++) {
      const path = join(dir.path, `step-${step}.key`);
      const { first, second } = race(path, step);
      expect(first).toHaveLength(32);
      expect({ step, second }).toEqual({ step, second: first });
      expect(parseKey(readFileSync(path, 'utf8'))).toEqual(first);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    }
    expect(readdirSync(dir.path).filter((name) => !name.endsWith('.key'))).toEqual([]);
    expect(existsSync(join(dir.path, 'alone.key'))).toBe(true);
  });
});

describe('upgrading a database with plain secrets', () => {
  it.runIf(process.env.DISPATCH_TEST_DIALECT !== 'postgres')(
    '0006_alert_rule_action → now: the signing secret and the Sentry token are sealed with the new key file, and both still work',
    async () => {
      const guild = testGuild();
      const discord = await FakeDiscord.start({ guilds: [guild] });
      const sentry = await FakeSentry.start({ token: 'sntrys_plain-token-1234567890' });
      const dir = tempDir();
      cleanups.push(
        () => dir.remove(),
        () => discord.stop(),
        () => sentry.stop(),
      );
      const channelId = guild.channels[0]!.id;
      const path = databaseAtRelease(dir.path, '0006_alert_rule_action', (db) => {
        db.prepare(
          `insert into sources (id, guild_id, name, slug, signing_secret, created_by, created_at, updated_at, sentry_token, sentry_base_url, sentry_org, sentry_identity)
           values (4, ?, 'plain', 'PLAINPLAINPLAINPLAINPLAINPLAIN00', 'plain-secret', '1', 1, 1, 'sntrys_plain-token-1234567890', ?, 'example-org', 'Dispatch')`,
        ).run(guild.id, sentry.url);
        db.prepare(
          `insert into routes (id, source_id, name, channel_id, layout, created_by, created_at, updated_at) values (9, 4, 'main', ?, 'card', '1', 1, 1)`,
        ).run(channelId);
        const state = JSON.stringify({
          key: 'issue:55',
          kind: 'issue',
          status: 'unresolved',
          lastUpdate: { text: 'New issue', at: 1 },
          history: [],
        });
        db.prepare(
          `insert into cards (route_id, card_key, channel_id, message_id, state, posted_at, last_edit_at, updated_at) values (9, 'issue:55', ?, '1300000000000000055', ?, ?, ?, ?)`,
        ).run(channelId, state, Date.now(), Date.now(), Date.now());
      });
      const env = testEnv(discord, path, { SENTRY_ALLOW_INSECURE_URLS: 'true', SENTRY_ALLOW_PRIVATE_URLS: 'true', CARD_SYNC_EVERY: '0s' });
      const config = loadConfig(env);
      expect(config.keyFile).toBe(join(dir.path, 'at-0006_alert_rule_action.key'));
      const dispatch = await startDispatch(config, silent);
      cleanups.push(() => dispatch.stop());
      const source = await sourceRow(dispatch.db, asSourceId(4));
      const keyId = keyIdOf(config.keyFile!);
      expect(source.signingSecret).toMatch(new RegExp(`^enc:v1:${keyId}:`));
      expect(source.sentryToken).toMatch(new RegExp(`^enc:v1:${keyId}:`));
      // Not left behind in the file's free pages or its write-ahead log either.
      for (const file of [path, `${path}-wal`]) expect(readFileSync(file).includes('sntrys_plain-token-1234567890')).toBe(false);
      expect(source).toMatchObject({ cardSyncedAt: null, cardsChecked: 0, cardsFixed: 0, cardSyncProblem: null });
      // The secret still verifies; the token still reaches Sentry (the read-back of the card uses it).
      const request = sentryRequest('issue', issue, 'plain-secret');
      const accepted = await fetch(`${dispatch.url}/hooks/${source.slug}`, {
        method: 'POST',
        body: request.body,
        headers: request.headers,
      });
      expect(accepted.status).toBe(202);
      sentry.issues.set('55', { status: 'resolved', substatus: null, assignedTo: null });
      expect(await dispatch.reconciler.syncSource(asSourceId(4))).toEqual({ checked: 1, fixed: 1, problem: null });
      expect(sentry.listings().at(-1)!.authorization).toBe('Bearer sntrys_plain-token-1234567890');
    },
  );
});

describe('sealing on a database with history', () => {
  it.runIf(process.env.DISPATCH_TEST_DIALECT !== 'postgres')(
    'past 32 MB: the plain secret is left in neither the file nor its log, and the file is not rewritten (its free pages stay: no VACUUM holds webhooks back)',
    async () => {
      const t = await prepared({ secret: 'plain-old-secret-0123456789abcdef' });
      const db = await openTestDatabase(t.path, t.env());
      // 40 MB of history, half of it pruned since: free pages a VACUUM would have removed.
      const body = JSON.stringify(issue).padEnd(4096, ' ');
      await db.run(sql`
        with recursive n(i) as (select 0 union all select i + 1 from n where i < 9999)
        insert into events (id, source_id, event_type, body_hash, body, received_at, deduped)
        select 'e-' || i, ${t.source.id}, 'issue.created', 'h-' || i, ${body}, i, 0 from n`);
      await db.run(sql`delete from events where seq % 2 = 0`);
      await db.close();
      const freePages = () => {
        const sqlite = new BetterSqlite3(t.path, { readonly: true });
        try {
          return Number(sqlite.pragma('freelist_count', { simple: true }));
        } finally {
          sqlite.close();
        }
      };
      const before = freePages();
      expect(before).toBeGreaterThan(100);
      expect(readFileSync(t.path).includes('plain-old-secret-0123456789abcdef')).toBe(true);

      const dispatch = await t.start();
      expect(await t.stored()).toMatch(/^enc:v1:/);
      for (const file of [t.path, `${t.path}-wal`])
        if (existsSync(file)) expect(readFileSync(file).includes('plain-old-secret-0123456789abcdef')).toBe(false);
      expect((await t.post(dispatch, 'plain-old-secret-0123456789abcdef')).status).toBe(202);
      await dispatch.stop();
      expect(freePages()).toBeGreaterThanOrEqual(before);
    },
  );
});

describe('sealing on a small database', () => {
  // secure_delete zeroes only the cells the sealing overwrites: copies an earlier release (plain
  // secrets, secure_delete off) moved as pages split, or freed when it deleted sources, stay in the
  // file. Only a rewrite removes them: up to 32 MB the start rewrites the file after sealing (above
  // that the log says to run `npm run compact`).
  it.runIf(process.env.DISPATCH_TEST_DIALECT !== 'postgres')(
    'after sealing, no plain secret is left in the file: neither the sealed one’s older copies nor a deleted source’s',
    async () => {
      const t = await prepared({ secret: 'plain-kept-secret-0123456789abcdef' });
      const GONE = 'plain-gone-secret-9876543210fedcba';
      // The earlier release: sources with their plain secrets, deleted (secure_delete off, as it was).
      const raw = new BetterSqlite3(t.path);
      const row = raw.prepare('select * from sources where id = ?').get(t.source.id) as Record<string, unknown>;
      // Enough of them to fill pages of their own: deleted, those pages join the free list as they were.
      for (let n = 0; n < 40; n++) {
        const gone = {
          ...row,
          id: 1000 + n,
          name: `gone-${n}-${'x'.repeat(400)}`,
          slug: `GONE${String(n).padStart(28, '0')}`,
          signing_secret: GONE,
        };
        const columns = Object.keys(gone);
        raw
          .prepare(`insert into sources (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`)
          .run(...Object.values(gone));
      }
      raw.pragma('wal_checkpoint(truncate)');
      raw.prepare('delete from sources where id >= 1000').run();
      raw.pragma('wal_checkpoint(truncate)');
      raw.close();
      expect(readFileSync(t.path).includes(GONE)).toBe(true);

      const dispatch = await t.start();
      expect(await t.stored()).toMatch(/^enc:v1:/);
      await dispatch.stop();
      for (const file of [t.path, `${t.path}-wal`, `${t.path}-journal`])
        if (existsSync(file)) {
          expect(readFileSync(file).includes('plain-kept-secret-0123456789abcdef')).toBe(false);
          expect(readFileSync(file).includes(GONE)).toBe(false);
        }
    },
  );
});

/** A key as `openssl rand -base64 32` writes it, in a file only its owner may read. */
function keyFileWith(path: string, key = randomBytes(32)): Buffer {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600 });
  return key;
}

/** Start-up refused: the message, which must be one line. */
async function refusal(start: Promise<unknown>): Promise<string> {
  const error = await start.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error, 'start-up refused').toBeInstanceOf(Error);
  expect(error!.message).not.toContain('\n');
  return error!.message;
}

describe('the database remembers the key it was first started with', () => {
  it('another DISPATCH_ENCRYPTION_KEY is refused even with no secret stored yet; during a rotation the check follows the new key', async () => {
    const t = await prepared({ secret: null });
    const [first, second] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    await (await t.start({ DISPATCH_ENCRYPTION_KEY: first })).stop();
    expect(await refusal(t.start({ DISPATCH_ENCRYPTION_KEY: second }))).toMatch(
      /^DISPATCH_ENCRYPTION_KEY is not the key this database's secrets are sealed with/,
    );
    // Rotating: the new key, with the old one as the previous key.
    const rotated = await t.start({ DISPATCH_ENCRYPTION_KEY: second, DISPATCH_ENCRYPTION_KEY_PREVIOUS: first });
    await rotated.stop();
    // From then on the old key alone is another key; the new one alone is the database's.
    expect(await refusal(t.start({ DISPATCH_ENCRYPTION_KEY: first }))).toMatch(/^DISPATCH_ENCRYPTION_KEY is not the key/);
    await (await t.start({ DISPATCH_ENCRYPTION_KEY: second })).stop();
  });

  it('a key file replaced on a database with no secret yet is refused, naming the file and DISPATCH_KEY_FILE', async () => {
    const t = await prepared({ secret: null });
    keyFileWith(t.keyFile);
    await (await t.start()).stop();
    keyFileWith(t.keyFile);
    const message = await refusal(t.start());
    expect(message).toContain(`the key file ${t.keyFile} (DISPATCH_KEY_FILE) is not the key this database's secrets are sealed with`);
  });
});

describe.runIf(TEST_DIALECT === 'postgres')('replicas on one Postgres with DISPATCH_KEY_FILE', () => {
  it('a missing key file is never made: start-up stops with one line naming it', async () => {
    const t = await prepared({ secret: null, keyFileByHand: false });
    const message = await refusal(t.start());
    expect(message).toContain(`the key file ${t.keyFile} (DISPATCH_KEY_FILE) does not exist`);
    expect(existsSync(t.keyFile)).toBe(false);
  });

  it("two machines with the same .env but their own key file: the second replica refuses to start; with the first's file, both verify its webhooks", async () => {
    const t = await prepared({ secret: null });
    // Two machines: the same DISPATCH_KEY_FILE path, each on its own disk.
    const machines = [tempDir(), tempDir()];
    cleanups.push(...machines.map((m) => () => m.remove()));
    const keyFiles = machines.map((m) => join(m.path, 'data', 'dispatch.key'));
    // Each machine has its own disk: its own DATABASE_PATH folder (where a replica keeps its spool) and key file.
    const startOn = (machine: number) =>
      t.start({ DISPATCH_KEY_FILE: keyFiles[machine]!, DATABASE_PATH: join(machines[machine]!.path, 'data', 'dispatch.db') });
    const leaderKey = keyFileWith(keyFiles[0]!);
    keyFileWith(keyFiles[1]!);
    const leader = await startOn(0);
    expect(await refusal(startOn(1))).toContain(
      `the key file ${keyFiles[1]} (DISPATCH_KEY_FILE) is not the key this database's secrets are sealed with`,
    );

    copyFileSync(keyFiles[0]!, keyFiles[1]!);
    const standby = await startOn(1);
    // A secret set on the leader, sealed with its key.
    await replaceStoredSecret(leader.db, t.source.id, 'signing_secret', createSecretBox(leaderKey).seal('client-secret'));
    const statuses = [];
    for (const replica of [leader, standby]) statuses.push((await t.post(replica, 'client-secret')).status);
    expect(statuses).toEqual([202, 202]);
  });
});
