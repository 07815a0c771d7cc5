import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { REST, type Client } from 'discord.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { createEventWriter } from './db/event-writer.js';
import { createSecretBox, sealStoredSecrets } from './db/secret-box.js';
import { openSqlite } from './db/sqlite.js';
import { restChannels } from './delivery/sender.js';
import { retryCardThreads } from './cards/thread-access.js';
import { DeliveryWorker } from './delivery/worker.js';
import { commands, componentHandlers } from '../commands/index.js';
import { createDiscordClient, gatewayState } from './discord/client.js';
import { createInteractionRouter } from './discord/interaction-router.js';
import { loginWithRetry } from './discord/login-loop.js';
import { onServerChange } from './discord/server-changes.js';
import { createApp } from './http/app.js';
import { answerClientErrors } from './http/client-error.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';

export interface Dispatch {
  /** Where the webhook listener actually listens (useful with PORT=0). */
  readonly url: string;
  readonly db: Database;
  readonly client: Client;
  readonly worker: DeliveryWorker;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The clock, for tests that move time. */
  now?: () => number;
}

/**
 * Start order: database, then the HTTP listener (so webhooks are taken even while Discord is
 * unreachable), then the delivery worker, then the gateway login, which retries in the background.
 */
export async function startDispatch(config: Config, logger: Logger, options: StartOptions = {}): Promise<Dispatch> {
  const db = openSqlite(config.databasePath, { synchronous: config.databaseSynchronous });
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
  const rest = new REST({ api: config.discordApiUrl, retries: 0 }).setToken(config.discordToken);
  rest.on('rateLimited', () => metrics.rateLimitHits.inc({ kind: 'wait' }));
  rest.on('response', (_request, response) => {
    if (response.status === 429) metrics.rateLimitHits.inc({ kind: '429' });
  });
  const client = createDiscordClient(config.discordApiUrl, logger);

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
    metrics,
    now,
  });

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
      wakeDelivery: () => worker.kick(),
      sentryUrls: config.sentryUrls,
    },
  );
  client.on('interactionCreate', (interaction) => void route(interaction));

  const app = createApp({
    db,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    writeEvent: createEventWriter(db, now, config.dedupeWindowMs),
    timestampToleranceMs: config.timestampToleranceMs,
    secrets,
    metrics,
    metricsToken: config.metricsToken,
    onAccepted: () => worker.kick(),
    requireSignature: config.requireSignature,
    gatewayState: () => gatewayState(client),
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

  onServerChange(client, (guildId) => {
    void worker.serverChanged(guildId);
    void retryCardThreads(db, client.guilds.cache.get(guildId), logger);
  });
  worker.start();
  const loginAbort = new AbortController();
  const login = loginWithRetry(client, config.discordToken, logger, loginAbort.signal);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      loginAbort.abort();
      await worker.stop(config.shutdownTimeoutMs);
      server.closeAllConnections();
      await closed;
      await login;
      await client.destroy();
      await db.close();
      logger.info('stopped');
    })());

  return { url, db, client, worker, stop };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
