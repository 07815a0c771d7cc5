import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import type { Route, Source } from '../../src/db/schema.js';
import type { Layout } from '../../src/db/routes.js';
import { createSource } from '../../src/db/sources.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { migratedDatabase } from './postgres.js';
import { startDispatch, type Dispatch, type StartOptions } from '../../src/dispatch.js';
import { createLogger } from '../../src/logger.js';
import { FakeDiscord, snowflake, type FakeDiscordOptions, type FakeGuild } from './fake-discord.js';
import { sentryRequest } from './sentry.js';
import { asChannelId, asGuildId, type ChannelId } from '../../src/ids.js';

export function tempDir(prefix = 'dispatch-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function testGuild(name = 'Acme'): FakeGuild {
  return {
    id: snowflake(),
    name,
    channels: [
      { id: snowflake(), name: 'alerts', type: 0 },
      { id: snowflake(), name: 'other', type: 0 },
    ],
  };
}

/** Replicas on Postgres share one key (DISPATCH_ENCRYPTION_KEY is required with DATABASE_URL); SQLite makes a key file beside the database. */
export const REPLICA_KEY = 'b'.repeat(64);

export function testEnv(discord: FakeDiscord, databasePath: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...(overrides.DATABASE_URL ? { DISPATCH_ENCRYPTION_KEY: REPLICA_KEY } : {}),
    DISCORD_TOKEN: 'test-token',
    DISCORD_API_URL: discord.apiUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: databasePath,
    LOG_LEVEL: 'silent',
    RETRY_SCHEDULE: '50ms,100ms,200ms',
    SHUTDOWN_TIMEOUT: '2s',
    ...overrides,
  };
}

/** A source as tests use it: with the channel and the route it was made with. */
export type TestSource = Source & { channelId: ChannelId; route: Route };

export interface Harness {
  discord: FakeDiscord;
  dispatch: Dispatch;
  config: Config;
  guild: FakeGuild;
  channelId: string;
  databasePath: string;
  /** Every log line, when started with captureLogs. */
  logLines: string[];
  /** A source and its first route, `feed` unless asked (most tests look at one message per event). */
  addSource(options?: {
    secret?: string | null;
    channelId?: string;
    name?: string;
    guildId?: string;
    layout?: Layout;
  }): Promise<TestSource>;
  post(slug: string, request: { body: string | Buffer; headers: Record<string, string> }): Promise<Response>;
  postEvent(source: Pick<Source, 'slug' | 'signingSecret'>, resource: string, payload: Record<string, unknown>): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Which database the tests run on: SQLite files, or (in the `postgres` test project,
 * DISPATCH_TEST_DIALECT=postgres) a fresh database in the run's Postgres for each harness.
 */
export const TEST_DIALECT: 'sqlite' | 'postgres' = process.env.DISPATCH_TEST_DIALECT === 'postgres' ? 'postgres' : 'sqlite';

/** DATABASE_URL for a fresh Postgres database on the postgres project; nothing on SQLite. */
async function databaseEnv(): Promise<Record<string, string>> {
  if (TEST_DIALECT === 'sqlite') return {};
  return { DATABASE_URL: await migratedDatabase() };
}

/** Opens the test's database as Dispatch will (Postgres when the env says so). */
export function openTestDatabase(path: string, env: Record<string, string>): Promise<Database> | Database {
  return env.DATABASE_URL ? openPostgres(env.DATABASE_URL) : openSqlite(path);
}

/** The real Dispatch (Express on port 0, a temporary SQLite file or Postgres database) against a loopback Discord. */
export async function startHarness(
  options: { env?: Record<string, string>; discord?: FakeDiscordOptions; start?: StartOptions; captureLogs?: boolean } = {},
): Promise<Harness> {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild], ...options.discord });
  const dir = tempDir();
  const databasePath = join(dir.path, 'dispatch.db');
  const config = loadConfig(testEnv(discord, databasePath, { ...(await databaseEnv()), ...options.env }));
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = options.captureLogs
    ? createLogger({ level: 'trace', pretty: false, destination, secretValues: [config.discordToken] })
    : createLogger({ level: config.logLevel, pretty: false, secretValues: [config.discordToken] });
  const dispatch = await startDispatch(config, logger, options.start);
  const harness: Harness = {
    discord,
    dispatch,
    config,
    guild,
    channelId: guild.channels[0]!.id,
    databasePath,
    logLines,
    addSource: async ({ secret = 'client-secret', channelId, name, guildId, layout = 'feed' } = {}) => {
      const input = {
        // The harness's guild as it is now: a test with several servers sets it before adding sources.
        guildId: asGuildId(guildId ?? harness.guild.id),
        channelId: asChannelId(channelId ?? harness.guild.channels[0]!.id),
        layout,
        name: name ?? `src-${Math.random().toString(36).slice(2, 8)}`,
        signingSecret: secret,
        createdBy: '100000000000000002',
      };
      const { source, route } = await createSource(dispatch.db, input, Date.now());
      return { ...source, channelId: route.channelId, route };
    },
    post: (slug, request) => fetch(`${dispatch.url}/hooks/${slug}`, { method: 'POST', body: request.body, headers: request.headers }),
    postEvent: (source, resource, payload) =>
      harness.post(source.slug, sentryRequest(resource, payload, source.signingSecret ?? undefined)),
    close: async () => {
      await dispatch.stop();
      await discord.stop();
      dir.remove();
    },
  };
  return harness;
}

/** Polls until `condition` holds (for set-up hooks, where expect.poll is not available). */
export async function waitFor(condition: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A loopback Discord with one guild and a database file holding one source (`web`, secret `sek`),
 * for tests that start Dispatch themselves (as a child process, or several times on one file).
 */
export async function preparedDatabase(options: { secret?: string | null; discord?: FakeDiscordOptions; layout?: Layout } = {}) {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild], ...options.discord });
  const dir = tempDir();
  const path = join(dir.path, 'dispatch.db');
  const database = await databaseEnv();
  const db: Database = await openTestDatabase(path, database);
  const created = await createSource(
    db,
    {
      guildId: asGuildId(guild.id),
      channelId: asChannelId(guild.channels[0]!.id),
      layout: options.layout ?? 'feed',
      name: 'web',
      signingSecret: options.secret === undefined ? 'sek' : options.secret,
      createdBy: '1',
    },
    Date.now(),
  );
  const source: TestSource = { ...created.source, channelId: created.route.channelId, route: created.route };
  await db.close();
  return {
    guild,
    discord,
    path,
    source,
    env: (overrides: Record<string, string> = {}) => testEnv(discord, path, { ...database, ...overrides }),
    cleanup: async () => {
      await discord.stop();
      dir.remove();
    },
  };
}
