import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { DefaultRestOptions, REST, type Client, type RESTOptions } from 'discord.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { createEventWriter } from './db/event-writer.js';
import { createSecretBox, sealStoredSecrets } from './db/secret-box.js';
import { openSqlite } from './db/sqlite.js';
import { singleProcess, type Coordinator } from './replicas/coordinator.js';
import { pacer, requestGapMs } from './replicas/budget.js';
import { Gateway } from './discord/gateway.js';
import { restChannels } from './delivery/sender.js';
import { retryCardThreads } from './cards/thread-access.js';
import { DeliveryWorker } from './delivery/worker.js';
import { commands, componentHandlers } from '../commands/index.js';
import { createDiscordClient, gatewayState } from './discord/client.js';
import { createInteractionRouter } from './discord/interaction-router.js';
import { onServerChange } from './discord/server-changes.js';
import { createApp } from './http/app.js';
import { answerClientErrors } from './http/client-error.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';

export interface Dispatch {
  /** Where the webhook listener actually listens (useful with PORT=0). */
  readonly url: string;
  readonly db: Database;
  /** The gateway client (a fresh one each time this replica becomes the leader). */
  readonly client: Client;
  readonly worker: DeliveryWorker;
  readonly coordinator: Coordinator;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The clock, for tests that move time. */
  now?: () => number;
}

/** SQLite at DATABASE_PATH, or Postgres at DATABASE_URL (with the coordination replicas need). */
async function openStorage(config: Config, logger: Logger): Promise<{ db: Database; coordinator: Coordinator }> {
  if (!config.databaseUrl)
    return { db: openSqlite(config.databasePath, { synchronous: config.databaseSynchronous }), coordinator: singleProcess() };
  // Loaded only here, so that a SQLite process never loads pg.
  const { openPostgres } = await import('./db/postgres.js');
  const { postgresCoordinator } = await import('./replicas/postgres-coordinator.js');
  const onError = (error: Error) => logger.error({ err: error }, 'Postgres connection error');
  const db = await openPostgres(config.databaseUrl, { onError });
  return { db, coordinator: postgresCoordinator({ url: config.databaseUrl, logger }) };
}

/**
 * Discord's global limit is per bot token: with several replicas, each spaces its requests so that
 * together they stay within it (see replicas/budget.ts). Alone, discord.js's own limiter suffices.
 */
function sharedBudgetRequests(replicas: () => number): RESTOptions['makeRequest'] {
  const turn = pacer(() => requestGapMs(replicas()), Date.now);
  return async (url, init) => {
    await turn();
    return DefaultRestOptions.makeRequest(url, init);
  };
}

/**
 * Start order: database, then the HTTP listener (so webhooks are taken even while Discord is
 * unreachable), then the delivery worker, then, on the leader only, the gateway login, which
 * retries in the background.
 */
export async function startDispatch(config: Config, logger: Logger, options: StartOptions = {}): Promise<Dispatch> {
  const { db, coordinator } = await openStorage(config, logger);
  const secrets = createSecretBox(config.encryptionKey, config.previousEncryptionKey ? [config.previousEncryptionKey] : []);
  try {
    const { sealed } = await sealStoredSecrets(db, secrets);
    if (sealed > 0) logger.info({ sealed, key_id: secrets.keyId }, 'encrypted stored signing secrets with the current key');
  } catch (error) {
    await db.close();
    throw error;
  }
  if (!config.encryptionKey) logger.warn('DISPATCH_ENCRYPTION_KEY is not set: signing secrets are stored in plain text');
  const now = options.now ?? Date.now;
  const metrics = createMetrics(db, now);
  const rest = new REST({
    api: config.discordApiUrl,
    retries: 0,
    makeRequest: sharedBudgetRequests(() => coordinator.replicas()),
  }).setToken(config.discordToken);
  rest.on('rateLimited', () => metrics.rateLimitHits.inc({ kind: 'wait' }));
  rest.on('response', (_request, response) => {
    if (response.status === 429) metrics.rateLimitHits.inc({ kind: '429' });
  });
  const discord = restChannels(rest);
  const worker = new DeliveryWorker({
    db,
    discord,
    logger,
    retry: config.retry,
    retentionMs: config.eventRetentionMs,
    batchLingerMs: config.batchLingerMs,
    flood: config.flood,
    cardBumpAfterMs: config.cardBumpAfterMs,
    channels: { take: (id) => coordinator.takeChannel(id), release: (id) => coordinator.releaseChannel(id) },
    metrics,
    now,
  });
  // Events stored by this replica or another (and commands that make some due) wake the worker.
  const eventsStored = () => {
    worker.kick();
    coordinator.announce();
  };
  coordinator.onAnnounce(() => worker.kick());

  const route = createInteractionRouter(
    { commands, components: componentHandlers },
    {
      db,
      logger,
      publicUrl: config.publicUrl,
      send: discord.post,
      now,
      secrets,
      flood: config.flood,
      requireSignature: config.requireSignature,
      wakeDelivery: eventsStored,
      sentryUrls: config.sentryUrls,
    },
  );
  const gateway = new Gateway(
    () => {
      const client = createDiscordClient(config.discordApiUrl, logger);
      client.on('interactionCreate', (interaction) => void route(interaction));
      onServerChange(client, (guildId) => {
        void worker.serverChanged(guildId);
        void retryCardThreads(db, client.guilds.cache.get(guildId), logger);
      });
      return client;
    },
    config.discordToken,
    logger,
  );

  const app = createApp({
    db,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    writeEvent: createEventWriter(db, now, config.dedupeWindowMs),
    timestampToleranceMs: config.timestampToleranceMs,
    secrets,
    metrics,
    metricsToken: config.metricsToken,
    onAccepted: eventsStored,
    requireSignature: config.requireSignature,
    gatewayState: () => gatewayState(gateway.client),
    role: () => coordinator.role(),
    deliveryHealth: () => worker.health(),
    now,
  });

  let server: Server;
  try {
    server = await listen(app, config.port, config.host);
  } catch (error) {
    await db.close();
    throw error;
  }
  answerClientErrors(server);
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, public_url: config.publicUrl }, 'webhook listener ready');

  worker.start();
  coordinator.onLeadership((leader) => (leader ? gateway.start() : void gateway.stop()));
  await coordinator.start();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await worker.stop(config.shutdownTimeoutMs);
      server.closeAllConnections();
      await closed;
      await gateway.stop();
      await gateway.client.destroy();
      await coordinator.stop();
      await db.close();
      logger.info('stopped');
    })());

  return {
    url,
    db,
    get client() {
      return gateway.client;
    },
    worker,
    coordinator,
    stop,
  };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
