import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import { duration, encryptionKey, MIB, optionalText, parseDurationList, readableUrl } from './config-values.js';

/** Thrown for missing or invalid settings: one problem a line, each naming its variable (start-up prints them all). */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

const schema = z.object({
  DISCORD_TOKEN: z
    .string({ error: 'is required (the bot token from the Discord developer portal)' })
    .trim()
    .min(1, 'is required (the bot token from the Discord developer portal)'),
  DISCORD_API_URL: z.url({ error: 'must be a URL such as https://discord.com/api' }).default('https://discord.com/api'),
  DISCORD_GUILD_ID: optionalText.pipe(
    z
      .string()
      .regex(/^\d{17,20}$/, 'must be a server id (a snowflake)')
      .optional(),
  ),
  PORT: z.coerce
    .number({ error: 'must be a port number from 0 to 65535' })
    .int('must be a port number from 0 to 65535')
    .min(0, 'must be a port number from 0 to 65535')
    .max(65535, 'must be a port number from 0 to 65535')
    .default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: optionalText.pipe(z.url({ error: 'must be a URL such as https://dispatch.example.com' }).optional()),
  DATABASE_PATH: z.string().min(1).default('./data/dispatch.db'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .refine(
      readableUrl,
      'is not a URL Dispatch can read: in the user name and password, write @ : / ? # % percent-encoded (/ as %2F, @ as %40, # as %23, % as %25)',
    )
    .optional(),
  MAX_BODY_BYTES: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number of bytes')
    .positive('must be a positive number of bytes')
    .default(10 * MIB),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be fatal, error, warn, info, debug, trace or silent',
    })
    .default('info'),
  LOG_PRETTY: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  RETRY_SCHEDULE: z.string().default('1s,2s,5s,10s,30s,60s').transform(parseDurationList),
  DELIVERY_DEADLINE: duration.default(24 * 3_600_000),
  EVENT_RETENTION: duration.default(7 * 86_400_000),
  DEDUPE_WINDOW: duration.default(3_600_000),
  DATABASE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL'], { error: 'must be FULL or NORMAL' }).default('FULL'),
  BATCH_LINGER: duration.default(500),
  TIMESTAMP_TOLERANCE: duration.default(5 * 60 * 1000),
  FLOOD_THRESHOLD: z.coerce
    .number({ error: 'must be a whole number of events' })
    .int('must be a whole number of events')
    .min(1, 'must be at least 1')
    .default(250),
  FLOOD_AFTER: duration.default(30_000),
  CARD_BUMP_AFTER: duration.default(3_600_000),
  DISPATCH_ENCRYPTION_KEY: encryptionKey,
  METRICS_TOKEN: optionalText,
  REQUIRE_SIGNATURE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  DISPATCH_ENCRYPTION_KEY_PREVIOUS: encryptionKey,
  SHUTDOWN_TIMEOUT: duration.default(10_000),
  SENTRY_ALLOW_INSECURE_URLS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  SENTRY_ALLOW_PRIVATE_URLS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  SENTRY_TIMEOUT: duration.default(5000),
  CARD_SYNC_EVERY: duration.default(10 * 60_000),
  CARD_SYNC_WINDOW: duration.default(7 * 86_400_000),
  SENTRY_CHECK_AFTER: duration.default(5000),
  DISPATCH_KEY_FILE: optionalText,
  SPOOL_AFTER: duration.pipe(z.number().min(1, 'must be at least 1ms')).default(1000),
  SPOOL_MAX_BYTES: z.coerce
    .number({ error: 'must be a number of bytes' })
    .int('must be a whole number of bytes')
    .positive('must be a positive number of bytes')
    .default(256 * MIB),
});

export interface Config {
  readonly discordToken: string;
  readonly discordApiUrl: string;
  readonly discordGuildId: string | undefined;
  readonly port: number;
  readonly host: string;
  /** Base of the webhook URLs shown to users, without a trailing slash. */
  readonly publicUrl: string;
  /** PUBLIC_URL was not set: the base is this machine's port (see defaultPublicUrl), which Sentry cannot reach. */
  readonly publicUrlIsDefault: boolean;
  readonly databasePath: string;
  /** Postgres instead of SQLite: several replicas can share it (see README, Running several replicas). */
  readonly databaseUrl: string | undefined;
  readonly maxBodyBytes: number;
  readonly logLevel: string;
  readonly logPretty: boolean;
  /** Transient failures: wait before each retry; the last wait repeats until the deadline. */
  readonly retry: { readonly schedule: readonly number[]; readonly deadlineMs: number };
  readonly eventRetentionMs: number;
  /** Identical bytes to one source within this long are one event. */
  readonly dedupeWindowMs: number;
  /** SQLite's synchronous pragma: FULL keeps acknowledged events through an OS crash, NORMAL through a process crash. */
  readonly databaseSynchronous: 'FULL' | 'NORMAL';
  /** How long a partial batch may wait for more events during a burst. */
  readonly batchLingerMs: number;
  /** How far Sentry-Hook-Timestamp may differ from our clock. */
  readonly timestampToleranceMs: number;
  /** Collapse a source's backlog when more than `threshold` events wait, the oldest for over `afterMs`. */
  readonly flood: { readonly threshold: number; readonly afterMs: number };
  /** A live card older than this is posted again, further down, when something about it needs eyes. */
  readonly cardBumpAfterMs: number;
  /** Seals signing secrets at rest (AES-256-GCM); none means they are stored as given. */
  readonly encryptionKey: Buffer | undefined;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  readonly metricsToken: string | undefined;
  /** Sources must have a signing secret: none can be created or left without one, and webhooks to one without get 401. */
  readonly requireSignature: boolean;
  /** The key being rotated away from: secrets it sealed are re-sealed with the current key at start-up. */
  readonly previousEncryptionKey: Buffer | undefined;
  readonly shutdownTimeoutMs: number;
  /** Which Sentry base URLs `/dispatch source connect` and triage may call (see src/sentry-api/url-guard.ts). */
  readonly sentryUrls: { readonly allowInsecure: boolean; readonly allowPrivate: boolean; readonly timeoutMs: number };
  /**
   * Cards read back from Sentry (src/cards/reconciler.ts): every `everyMs` (0: never), the cards
   * changed within `windowMs`; and an issue read `checkAfterMs` after a change Sentry did not confirm.
   */
  readonly cardSync: { readonly everyMs: number; readonly windowMs: number; readonly checkAfterMs: number };
  /**
   * Where the key that seals secrets is kept when DISPATCH_ENCRYPTION_KEY is not set: made on first
   * start. Beside the SQLite file by default; with Postgres there is no default (replicas must share a key).
   */
  readonly keyFile: string | undefined;
  /**
   * With Postgres, each replica's spool (src/spool): webhooks whose read or write Postgres has not
   * answered within `afterMs` are kept in the SQLite file at `path` (beside DATABASE_PATH) and
   * acknowledged, up to `maxBytes` of bodies, and drained into Postgres when it answers again.
   */
  readonly spool: { readonly path: string; readonly afterMs: number; readonly maxBytes: number };
}

/** Values the logger must never write, wherever they turn up: the bot token, and the password in DATABASE_URL. */
export function secretValues(config: Config): string[] {
  const password = config.databaseUrl ? decodeURIComponent(new URL(config.databaseUrl).password) : '';
  return [config.discordToken, ...(password ? [password] : [])];
}

/** Parses the environment once. Nothing else in the program reads process.env. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const given = givenValues(env);
  const parsed = schema.safeParse(given);
  const problems = parsed.success ? [] : firstIssuePerVariable(parsed.error.issues);
  if (given.DATABASE_URL && !given.DISPATCH_ENCRYPTION_KEY && !given.DISPATCH_KEY_FILE) {
    problems.push(
      'DISPATCH_ENCRYPTION_KEY is required with DATABASE_URL: every replica must seal secrets with the same key (`openssl rand -base64 32`), or set DISPATCH_KEY_FILE to a key file they share',
    );
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return Object.freeze({
    discordToken: e.DISCORD_TOKEN,
    discordApiUrl: e.DISCORD_API_URL.replace(/\/+$/, ''),
    discordGuildId: e.DISCORD_GUILD_ID,
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? defaultPublicUrl(e.PORT)).replace(/\/+$/, ''),
    publicUrlIsDefault: e.PUBLIC_URL === undefined,
    databasePath: e.DATABASE_PATH,
    databaseUrl: e.DATABASE_URL,
    maxBodyBytes: e.MAX_BODY_BYTES,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY === undefined ? process.stdout.isTTY === true : e.LOG_PRETTY === 'true',
    retry: Object.freeze({ schedule: Object.freeze(e.RETRY_SCHEDULE), deadlineMs: e.DELIVERY_DEADLINE }),
    eventRetentionMs: e.EVENT_RETENTION,
    dedupeWindowMs: e.DEDUPE_WINDOW,
    databaseSynchronous: e.DATABASE_SYNCHRONOUS,
    batchLingerMs: e.BATCH_LINGER,
    timestampToleranceMs: e.TIMESTAMP_TOLERANCE,
    flood: Object.freeze({ threshold: e.FLOOD_THRESHOLD, afterMs: e.FLOOD_AFTER }),
    cardBumpAfterMs: e.CARD_BUMP_AFTER,
    encryptionKey: e.DISPATCH_ENCRYPTION_KEY,
    metricsToken: e.METRICS_TOKEN,
    requireSignature: e.REQUIRE_SIGNATURE === 'true',
    previousEncryptionKey: e.DISPATCH_ENCRYPTION_KEY_PREVIOUS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT,
    sentryUrls: Object.freeze({
      allowInsecure: e.SENTRY_ALLOW_INSECURE_URLS === 'true',
      allowPrivate: e.SENTRY_ALLOW_PRIVATE_URLS === 'true',
      timeoutMs: e.SENTRY_TIMEOUT,
    }),
    cardSync: Object.freeze({ everyMs: e.CARD_SYNC_EVERY, windowMs: e.CARD_SYNC_WINDOW, checkAfterMs: e.SENTRY_CHECK_AFTER }),
    keyFile: keyFileOf(e),
    spool: Object.freeze({ path: spoolBeside(e.DATABASE_PATH), afterMs: e.SPOOL_AFTER, maxBytes: e.SPOOL_MAX_BYTES }),
  });
}

/** Where the data is, for tools that need nothing else (`npm run backup`, the start-up's path checks): no token required. */
export type StorageConfig = Pick<Config, 'databasePath' | 'databaseUrl' | 'keyFile' | 'encryptionKey'>;

const storageSchema = schema.pick({ DATABASE_PATH: true, DATABASE_URL: true, DISPATCH_KEY_FILE: true, DISPATCH_ENCRYPTION_KEY: true });

export function loadStorageConfig(env: NodeJS.ProcessEnv): StorageConfig {
  const parsed = storageSchema.safeParse(givenValues(env));
  if (!parsed.success) throw new ConfigError(firstIssuePerVariable(parsed.error.issues));
  const e = parsed.data;
  return Object.freeze({
    databasePath: e.DATABASE_PATH,
    databaseUrl: e.DATABASE_URL,
    keyFile: keyFileOf(e),
    encryptionKey: e.DISPATCH_ENCRYPTION_KEY,
  });
}

/** `KEY=` (as in .env.example) means "not set", for every key. */
function givenValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1].trim() !== ''),
  );
}

/** The key file: DISPATCH_KEY_FILE, else beside the SQLite file; with Postgres there is no default (replicas must share a key). */
function keyFileOf(e: {
  DISPATCH_KEY_FILE?: string | undefined;
  DATABASE_URL?: string | undefined;
  DATABASE_PATH: string;
}): string | undefined {
  return e.DISPATCH_KEY_FILE ?? (e.DATABASE_URL ? undefined : defaultKeyFile(e.DATABASE_PATH));
}

/** Every bad variable, once each (its first problem), in the order of the schema: all are reported at once. */
function firstIssuePerVariable(issues: readonly z.core.$ZodIssue[]): string[] {
  const byKey = new Map<string, string>();
  for (const issue of issues) {
    const key = String(issue.path[0] ?? 'configuration');
    if (!byKey.has(key)) byKey.set(key, `${key} ${issue.message}`);
  }
  return [...byKey.values()];
}

/** Without PUBLIC_URL, webhook URLs point at this machine's port (the port listened on, when PORT=0 picks one). */
export function defaultPublicUrl(port: number): string {
  return `http://localhost:${port}`;
}

/** `./data/dispatch.db` → `./data/dispatch.key`: beside the database, but a copy of the database file alone (a backup, a dump) does not hold it. */
export function defaultKeyFile(databasePath: string): string | undefined {
  if (databasePath === ':memory:') return undefined;
  return join(dirname(databasePath), `${basename(databasePath, extname(databasePath)) || 'dispatch'}.key`);
}

/** `./data/dispatch.db` → `./data/dispatch.spool.db`: beside DATABASE_PATH, so each replica keeps its own where it keeps its data. */
function spoolBeside(databasePath: string): string {
  if (databasePath === ':memory:') return ':memory:';
  const ext = extname(databasePath);
  return join(dirname(databasePath), `${basename(databasePath, ext) || 'dispatch'}.spool${ext || '.db'}`);
}
