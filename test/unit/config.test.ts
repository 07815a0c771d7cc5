import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadStorageConfig, secretValues } from '../../src/config.js';

describe('loadConfig', () => {
  it('names a missing DISCORD_TOKEN', () => {
    expect(() => loadConfig({})).toThrow(/^DISCORD_TOKEN is required/);
  });

  it('fills the documented defaults', () => {
    const config = loadConfig({ DISCORD_TOKEN: 't' });
    expect(config).toMatchObject({
      discordApiUrl: 'https://discord.com/api',
      port: 3000,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:3000',
      databasePath: './data/dispatch.db',
      maxBodyBytes: 10 * 1024 * 1024,
      logLevel: 'info',
      retry: { schedule: [1000, 2000, 5000, 10_000, 30_000, 60_000], deadlineMs: 86_400_000 },
      eventRetentionMs: 7 * 86_400_000,
      dedupeWindowMs: 3_600_000,
      databaseSynchronous: 'FULL',
      cardSync: { everyMs: 600_000, windowMs: 7 * 86_400_000, checkAfterMs: 5000 },
      keyFile: 'data/dispatch.key',
      spool: { path: 'data/dispatch.spool.db', afterMs: 1000, maxBytes: 256 * 1024 * 1024 },
    });
  });

  it('keeps the spool beside DATABASE_PATH', () => {
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_PATH: '/var/lib/dispatch/bot.sqlite' }).spool.path).toBe(
      '/var/lib/dispatch/bot.spool.sqlite',
    );
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_PATH: '/var/lib/dispatch/state' }).spool.path).toBe(
      '/var/lib/dispatch/state.spool.db',
    );
    expect(loadConfig({ DISCORD_TOKEN: 't', SPOOL_AFTER: '250ms', SPOOL_MAX_BYTES: '1048576' }).spool).toMatchObject({
      afterMs: 250,
      maxBytes: 1024 * 1024,
    });
  });

  it('keeps the key file beside the database, and has none for Postgres unless one is named', () => {
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_PATH: '/var/lib/dispatch/bot.sqlite' }).keyFile).toBe('/var/lib/dispatch/bot.key');
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_PATH: ':memory:' }).keyFile).toBeUndefined();
    expect(loadConfig({ DISCORD_TOKEN: 't', DISPATCH_KEY_FILE: '/run/secrets/dispatch.key' }).keyFile).toBe('/run/secrets/dispatch.key');
    const url = 'postgres://dispatch@db.internal/dispatch';
    expect(() => loadConfig({ DISCORD_TOKEN: 't', DATABASE_URL: url })).toThrow(/^DISPATCH_ENCRYPTION_KEY is required with DATABASE_URL/);
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_URL: url, DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64) }).keyFile).toBeUndefined();
    expect(loadConfig({ DISCORD_TOKEN: 't', DATABASE_URL: url, DISPATCH_KEY_FILE: '/shared/k' }).keyFile).toBe('/shared/k');
  });

  it('derives PUBLIC_URL from PORT and drops a trailing slash', () => {
    expect(loadConfig({ DISCORD_TOKEN: 't', PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    expect(loadConfig({ DISCORD_TOKEN: 't', PUBLIC_URL: 'https://d.example.com/' }).publicUrl).toBe('https://d.example.com');
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be a port number/],
    [{ PORT: '70000' }, /^PORT must be a port number/],
    [{ DISCORD_API_URL: 'not a url' }, /^DISCORD_API_URL must be a URL/],
    [{ PUBLIC_URL: 'nope' }, /^PUBLIC_URL must be a URL/],
    [{ DISCORD_GUILD_ID: '12' }, /^DISCORD_GUILD_ID must be a server id/],
    [{ MAX_BODY_BYTES: '-1' }, /^MAX_BODY_BYTES must be a positive number/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /],
    [{ RETRY_SCHEDULE: '1s,soon' }, /^RETRY_SCHEDULE "soon" is not a duration/],
    [{ DELIVERY_DEADLINE: '24' }, /^DELIVERY_DEADLINE "24" is not a duration/],
    [{ DATABASE_SYNCHRONOUS: 'OFF' }, /^DATABASE_SYNCHRONOUS must be FULL or NORMAL/],
    [{ CARD_SYNC_EVERY: '10' }, /^CARD_SYNC_EVERY "10" is not a duration/],
    [{ SPOOL_AFTER: '1' }, /^SPOOL_AFTER "1" is not a duration/],
    [{ SPOOL_AFTER: '0s' }, /^SPOOL_AFTER must be at least 1ms/],
    [{ SPOOL_MAX_BYTES: 'lots' }, /^SPOOL_MAX_BYTES must be a number of bytes/],
    [{ CARD_SYNC_WINDOW: 'a week' }, /^CARD_SYNC_WINDOW "a week" is not a duration/],
  ])('refuses %o with a message naming the variable', (env, message) => {
    expect(() => loadConfig({ DISCORD_TOKEN: 't', ...env })).toThrow(message);
  });

  it('reports every bad variable at once, one problem each, in the order of the configuration table', () => {
    const problems = (() => {
      try {
        loadConfig({ PORT: 'abc', LOG_LEVEL: 'loud', RETRY_SCHEDULE: '1s,soon', DATABASE_URL: 'postgres://db/dispatch' });
      } catch (error) {
        return (error as ConfigError).problems;
      }
      return [];
    })();
    expect(problems).toEqual([
      'DISCORD_TOKEN is required (the bot token from the Discord developer portal)',
      'PORT must be a port number from 0 to 65535',
      'LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent',
      'RETRY_SCHEDULE "soon" is not a duration like 500ms, 5s, 2m, 1h',
      expect.stringMatching(/^DISPATCH_ENCRYPTION_KEY is required with DATABASE_URL/),
    ]);
  });

  it('without PUBLIC_URL, says the base is the default one (the port listened on replaces PORT=0 at start)', () => {
    expect(loadConfig({ DISCORD_TOKEN: 't', PORT: '0' })).toMatchObject({ publicUrl: 'http://localhost:0', publicUrlIsDefault: true });
    expect(loadConfig({ DISCORD_TOKEN: 't', PUBLIC_URL: 'https://d.example.com' }).publicUrlIsDefault).toBe(false);
  });
});

describe('loadStorageConfig', () => {
  it('reads where the data is without needing the bot token, with the same defaults as loadConfig', () => {
    const full = loadConfig({ DISCORD_TOKEN: 't' });
    expect(loadStorageConfig({})).toEqual({
      databasePath: full.databasePath,
      databaseUrl: undefined,
      keyFile: full.keyFile,
      encryptionKey: undefined,
    });
    expect(loadStorageConfig({ DATABASE_PATH: '/srv/d/bot.db' }).keyFile).toBe('/srv/d/bot.key');
    expect(() => loadStorageConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/^DATABASE_URL must be a postgres/);
  });
});

describe('.env.example', () => {
  it('loads as it is once DISCORD_TOKEN is filled in, documents every key, and gives the defaults', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseEnv } = await import('node:util');
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const env = parseEnv(text) as Record<string, string>;
    const config = loadConfig({ ...env, DISCORD_TOKEN: 't' });
    expect(config).toEqual(loadConfig({ DISCORD_TOKEN: 't' }));
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const key of Object.keys(env)) expect(readme).toContain(`| \`${key}\` |`);
  });
});

describe('secretValues', () => {
  it("names the bot token and DATABASE_URL's password (decoded), for the logger to hide", () => {
    expect(secretValues(loadConfig({ DISCORD_TOKEN: 'bot-token-123' }))).toEqual(['bot-token-123']);
    const config = loadConfig({
      DISCORD_TOKEN: 'bot-token-123',
      DATABASE_URL: 'postgresql://dispatch:s3cr%40t-pass@db.internal:5432/dispatch',
      DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64),
    });
    expect(secretValues(config)).toEqual(['bot-token-123', 's3cr@t-pass']);
  });

  it('a DATABASE_URL whose password is not percent-encoded is one line naming the variable, never the password', () => {
    // A base64 password pasted as it is: its "/" ends the host part, and the URL does not parse.
    for (const url of [
      'postgres://dispatch:ab/cd+ef=@db.internal:5432/dispatch',
      'postgres://dispatch:ab#cd@db.internal:5432/dispatch',
      'postgres://dispatch:ab%zz@db.internal:5432/dispatch',
    ]) {
      let problems: readonly string[] = [];
      try {
        loadConfig({ DISCORD_TOKEN: 't', DATABASE_URL: url, DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64) });
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL is not a URL Dispatch can read: .*percent-encoded/)]);
      expect(problems.join('\n')).not.toMatch(/ab\/cd|ab#cd|ab%zz/);
      expect(() => loadStorageConfig({ DATABASE_URL: url })).toThrow(/^DATABASE_URL is not a URL Dispatch can read/);
    }
  });
});
