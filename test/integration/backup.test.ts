import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { backupSqlite } from '../../src/db/backup.js';
import { startDispatch } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import { preparedDatabase, tempDir } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { compiled } from '../support/child.js';

/**
 * `npm run backup -- <file>` while Dispatch runs and takes webhooks, then a restore as the README
 * tells it: the copy put back as the database with the key file kept apart, and Dispatch started on
 * it. (SQLite only: with Postgres the README says pg_dump.)
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const silent = createLogger({ level: 'silent', pretty: false });
const backups = tempDir('dispatch-backups-');
const restored = tempDir('dispatch-restored-');
afterAll(() => {
  backups.remove();
  restored.remove();
});

const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
/** A distinct issue.created per n, so that none is a duplicate of another. */
const webhook = (n: number, secret: string) =>
  sentryRequest('issue', { ...issue, data: { issue: { ...issue.data.issue, id: String(8_000_000 + n), shortId: `WEB-${n}` } } }, secret);

/** The backup script as `npm run backup` runs it (compiled, as npm run backup runs it), with only `env`. */
function backup(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [compiled('backup'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const eventIds = (path: string): Set<string> => {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return new Set((db.prepare('select id from events').all() as { id: string }[]).map((row) => row.id));
  } finally {
    db.close();
  }
};

describe('npm run backup', () => {
  it('copies a running Dispatch taking webhooks; restored with its key file, it starts with every event acknowledged before the copy began', async () => {
    const { discord, source, env, path, cleanup } = await preparedDatabase();
    const config = loadConfig(env());
    const dispatch = await startDispatch(config, silent);
    const copy = join(backups.path, 'dispatch-copy.db');
    let acknowledgedBeforeCopy: string[] = [];
    try {
      // Webhooks keep arriving, one after another, for as long as the backup runs.
      const acknowledged: string[] = [];
      let sending = true;
      let firstAcks: () => void = () => {};
      const enough = new Promise<void>((resolve) => (firstAcks = resolve));
      const traffic = (async () => {
        for (let n = 0; sending; n++) {
          const response = await fetch(`${dispatch.url}/hooks/${source.slug}`, { method: 'POST', ...webhook(n, 'sek') });
          expect(response.status).toBe(202);
          acknowledged.push(((await response.json()) as { event_id: string }).event_id);
          if (acknowledged.length === 20) firstAcks();
        }
      })();
      await enough;
      acknowledgedBeforeCopy = [...acknowledged];
      const run = await backup({ DATABASE_PATH: path }, copy);
      sending = false;
      await traffic;

      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const [summary, key] = run.stdout.trim().split('\n');
      expect(summary).toMatch(
        new RegExp(`^Backed up ${path} to ${copy}: \\d+ events, 1 sources, [\\d.]+ MiB, checked by SQLite, in \\d+ ms\\.$`),
      );
      expect(key).toBe(
        `The key file ${config.keyFile} is not in the copy: back it up, and store that copy apart from the database backups.`,
      );
      expect(acknowledged.length).toBeGreaterThan(acknowledgedBeforeCopy.length); // webhooks were taken during the copy
      // One file, for its owner only (payloads may carry personal data), and no half-made file left beside it.
      expect(existsSync(`${copy}-wal`)).toBe(false);
      expect(statSync(copy).mode & 0o777).toBe(0o600);

      // Never over an existing file.
      const again = await backup({ DATABASE_PATH: path }, copy);
      expect(again.code).toBe(1);
      expect(again.stderr.trim()).toBe(`backup: ${copy} already exists: name a new file (a backup never overwrites one)`);
    } finally {
      await dispatch.stop();
    }

    // Restore: the copy as the database, the key file (kept apart) beside it, and start.
    const database = join(restored.path, 'dispatch.db');
    copyFileSync(copy, database);
    copyFileSync(config.keyFile!, join(restored.path, 'dispatch.key'));
    const inCopy = eventIds(database);
    for (const id of acknowledgedBeforeCopy) expect(inCopy.has(id), id).toBe(true);

    const again = await startDispatch(loadConfig(env({ DATABASE_PATH: database })), silent);
    try {
      // The source's signing secret opens with the key file: a signed webhook is taken and posted.
      const response = await fetch(`${again.url}/hooks/${source.slug}`, { method: 'POST', ...webhook(999_999, 'sek') });
      expect(response.status).toBe(202);
      await discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('WEB-999999'));
      const now = eventIds(database);
      for (const id of inCopy) expect(now.has(id)).toBe(true);
    } finally {
      await again.stop();
      await cleanup();
    }
  }, 60_000);

  it("the copy is its owner's alone while it is being written too: a backup killed midway leaves nothing others can read", async () => {
    const databasePath = join(backups.path, 'modes.db');
    const db = new BetterSqlite3(databasePath);
    db.pragma('journal_mode = WAL');
    db.exec('create table events (id text); create table sources (id integer)');
    const insert = db.prepare('insert into events values (?)');
    for (let i = 0; i < 2000; i++) insert.run(`event-${i}-${'x'.repeat(200)}`);
    db.close();
    // The partial copy's mode as SQLite writes it: read at the backup's first progress report.
    const modes: number[] = [];
    const original = BetterSqlite3.prototype.backup;
    BetterSqlite3.prototype.backup = function (this: BetterSqlite3.Database, filename: string, options?: BetterSqlite3.BackupOptions) {
      const progress = (info: BetterSqlite3.BackupMetadata) => {
        modes.push(statSync(filename).mode & 0o777);
        return options?.progress?.(info) ?? 100;
      };
      return original.call(this, filename, { ...options, progress });
    } as typeof original;
    try {
      await backupSqlite(databasePath, join(backups.path, 'modes-copy.db'));
    } finally {
      BetterSqlite3.prototype.backup = original;
    }
    expect(modes.length).toBeGreaterThan(0);
    expect(modes.every((mode) => mode === 0o600)).toBe(true);
    expect(statSync(join(backups.path, 'modes-copy.db')).mode & 0o777).toBe(0o600);
  });

  it('with DATABASE_URL: says to use pg_dump; without a file: says how to name one; --help without any setting', async () => {
    const postgres = await backup(
      { DATABASE_URL: 'postgres://dispatch@db.internal/dispatch', DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64) },
      'x.db',
    );
    expect(postgres.code).toBe(1);
    expect(postgres.stderr.trim()).toBe(
      'backup: DATABASE_URL is set: the data is in Postgres; back it up with pg_dump --format=custom --file=dispatch.dump "$DATABASE_URL"',
    );
    const nameless = await backup({});
    expect(nameless.code).toBe(1);
    expect(nameless.stderr.trim()).toBe(
      'backup: name the file to write: npm run backup -- /var/backups/dispatch-$(date +%F).db (see --help)',
    );
    const help = await backup({}, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^npm run backup -- <file> — an online, consistent copy/);
  });
});
