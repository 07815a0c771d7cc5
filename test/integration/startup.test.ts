import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { sql } from 'drizzle-orm';
import { createSource, findSource } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { startDispatch } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import type { FakeDiscord } from '../support/fake-discord.js';
import { preparedDatabase, tempDir, TEST_DIALECT, testEnv } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { asChannelId, asGuildId } from '../../src/ids.js';
import { compiled } from '../support/child.js';

const silent = createLogger({ level: 'silent', pretty: false });

describe('start-up', () => {
  it('without DISCORD_TOKEN prints one line naming it and exits 1', () => {
    const dir = tempDir();
    try {
      const { PATH, HOME } = process.env;
      const result = spawnSync(process.execPath, [compiled('index')], {
        cwd: dir.path,
        env: { PATH, HOME },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/DISCORD_TOKEN is required/);
    } finally {
      dir.remove();
    }
  });

  // SQLite's own start-up (a file, WAL); Postgres's migrations are exercised by every Postgres test and the replica tests.
  it.skipIf(TEST_DIALECT === 'postgres')(
    'applies the migrations to a fresh file, and a second open of the same file keeps its data',
    async () => {
      const dir = tempDir();
      try {
        const path = join(dir.path, 'nested', 'folder', 'dispatch.db');
        const first = openSqlite(path);
        expect(await first.get(sql`pragma journal_mode`)).toEqual({ journal_mode: 'wal' });
        const { source } = await createSource(
          first,
          { guildId: asGuildId('1'), channelId: asChannelId('2'), layout: 'feed', name: 'web', signingSecret: null, createdBy: '3' },
          Date.now(),
        );
        expect(source.slug).toMatch(/^[A-Za-z0-9_-]{32}$/);
        await first.close();
        const second = openSqlite(path);
        expect((await findSource(second, asGuildId('1'), 'web'))?.slug).toBe(source.slug);
        await second.close();
      } finally {
        dir.remove();
      }
    },
  );

  it('takes webhooks while the Discord gateway is down, posts them over REST, and logs in once it is back', async () => {
    const { discord, source, env, cleanup } = await preparedDatabase();
    discord.setGatewayEnabled(false);
    const dispatch = await startDispatch(loadConfig(env()), silent);
    try {
      const request = sentryRequest('issue', loadFixture('issue.created.json'), 'sek');
      const response = await fetch(`${dispatch.url}/hooks/${source.slug}`, {
        method: 'POST',
        body: request.body,
        headers: request.headers,
      });
      expect(response.status).toBe(202);
      await discord.waitForMessage((m) => m.channel_id === source.channelId);
      const health = (await (await fetch(`${dispatch.url}/healthz`)).json()) as { discord: { gateway: string } };
      expect(health.discord.gateway).not.toBe('ready');

      discord.setGatewayEnabled(true);
      await discord.ready;
      await expect.poll(() => dispatch.client.isReady(), { timeout: 15_000 }).toBe(true);
    } finally {
      await dispatch.stop();
      await cleanup();
    }
  });

  it('keeps accepting and queueing when Discord cannot be reached at all', async () => {
    const dir = tempDir();
    const unreachable = { apiUrl: 'http://127.0.0.1:9/api' } as FakeDiscord;
    const dispatch = await startDispatch(loadConfig(testEnv(unreachable, join(dir.path, 'd.db'))), silent);
    try {
      const { source } = await createSource(
        dispatch.db,
        { guildId: asGuildId('1'), channelId: asChannelId('2'), layout: 'feed', name: 'web', signingSecret: null, createdBy: '3' },
        Date.now(),
      );
      const request = sentryRequest('issue', loadFixture('issue.created.json'));
      const response = await fetch(`${dispatch.url}/hooks/${source.slug}`, {
        method: 'POST',
        body: request.body,
        headers: request.headers,
      });
      expect(response.status).toBe(202);
      const health = (await (await fetch(`${dispatch.url}/healthz`)).json()) as { status: string; queue: { depth: number } };
      expect(health.status).toBe('degraded');
      expect(health.queue.depth).toBe(1);
    } finally {
      await dispatch.stop();
      dir.remove();
    }
  });
});
