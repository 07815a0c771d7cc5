import type { AddressInfo } from 'node:net';
import { DefaultRestOptions, REST, type Client, type RESTOptions } from 'discord.js';
import { defaultPublicUrl, type Config } from './config.js';
import { publicUrlWarning } from './public-url.js';
import type { Database } from './db/database.js';
import { createEventWriter } from './db/event-writer.js';
import { CardReconciler } from './cards/reconciler.js';
import { DigestScheduler } from './schedule/digest-scheduler.js';
import { openSqlite } from './db/sqlite.js';
import { sealSecrets } from './seal-secrets.js';
import { singleProcess, type Coordinator } from './replicas/coordinator.js';
import { pacer, requestGapMs } from './replicas/budget.js';
import { Gateway } from './discord/gateway.js';
import { restChannels, type DiscordChannels } from './delivery/sender.js';
import { restGuildView, type GuildView } from './discord/guild-view.js';
import { restPeople, type DiscordPeople } from './discord/people.js';
import { retryCardThreads } from './cards/thread-access.js';
import { DeliveryWorker } from './delivery/worker.js';
import { systemClock, type Clock } from './delivery/clock.js';
import { commands, componentHandlers, messageCommands } from '../commands/index.js';
import { createDiscordClient, gatewayState } from './discord/client.js';
import { createInteractionRouter } from './discord/interaction-router.js';
import { onServerChange } from './discord/server-changes.js';
import { createApp } from './http/app.js';
import { listen, once, stopAll } from './lifecycle.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { Spool } from './spool/spool.js';
import { webhookStorage, type WebhookStorage } from './spool/webhook-storage.js';

export interface Dispatch {
  /** Where the webhook listener actually listens (useful with PORT=0). */
  readonly url: string;
  /** The base of the webhook URLs handed out: PUBLIC_URL, or this machine and the port listened on. */
  readonly publicUrl: string;
  readonly db: Database;
  /** The gateway client (a fresh one each time this replica becomes the leader). */
  readonly client: Client;
  readonly worker: DeliveryWorker;
  readonly coordinator: Coordinator;
  /** Reads cards back from Sentry (tests run it at will). */
  readonly reconciler: CardReconciler;
  readonly digests: DigestScheduler;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The clock, for tests that move time. */
  now?: () => number;
  /** The delivery engine's clock (its timers too), for tests that step time; default the wall clock on `now`. */
  clock?: Clock;
  /**
   * Discord refused DISCORD_TOKEN (401) before ever accepting it: the program stops, saying so.
   * Without it (tests), the login is retried as for an outage.
   */
  onTokenRefused?: () => void;
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
 * Discord's REST API for delivery and commands. Its global limit is per bot token: with several
 * replicas, each spaces its requests so that together they stay within it (replicas/budget.ts).
 * Alone, discord.js's own limiter suffices.
 */
function discordRest(
  config: Config,
  coordinator: Coordinator,
  metrics: Metrics,
): { channels: DiscordChannels; guilds: GuildView; people: DiscordPeople } {
  const turn = pacer(() => requestGapMs(coordinator.replicas()), Date.now);
  const makeRequest: RESTOptions['makeRequest'] = async (url, init) => {
    await turn();
    return DefaultRestOptions.makeRequest(url, init);
  };
  const rest = new REST({ api: config.discordApiUrl, retries: 0, makeRequest }).setToken(config.discordToken);
  rest.on('rateLimited', () => metrics.rateLimitHits.inc({ kind: 'wait' }));
  rest.on('response', (_request, response) => {
    if (response.status === 429) metrics.rateLimitHits.inc({ kind: '429' });
  });
  return { channels: restChannels(rest), guilds: restGuildView(rest), people: restPeople(rest) };
}

/** The delivery worker as configured: the one composition the program and the simulation test both run. */
export function deliveryWorker(
  config: Pick<Config, 'retry' | 'eventRetentionMs' | 'batchLingerMs' | 'flood' | 'cardBumpAfterMs'>,
  parts: {
    db: Database;
    discord: DiscordChannels;
    people: DiscordPeople;
    logger: Logger;
    metrics: Metrics;
    clock: Clock;
    coordinator: Coordinator;
  },
): DeliveryWorker {
  const { coordinator, ...rest } = parts;
  return new DeliveryWorker({
    ...rest,
    retry: config.retry,
    retentionMs: config.eventRetentionMs,
    batchLingerMs: config.batchLingerMs,
    flood: config.flood,
    cardBumpAfterMs: config.cardBumpAfterMs,
    channels: { take: (id) => coordinator.takeChannel(id), release: (id) => coordinator.releaseChannel(id) },
  });
}

/** The gateway (leader only): slash commands, buttons and menus, and server changes that can lift holds. */
function discordGateway(
  config: Config,
  logger: Logger,
  now: () => number,
  route: ReturnType<typeof createInteractionRouter>,
  onServerChanged: (client: Client) => Parameters<typeof onServerChange>[1],
  onTokenRefused: (() => void) | undefined,
): Gateway {
  return new Gateway(
    () => {
      const client = createDiscordClient(config.discordApiUrl, logger, now);
      client.on('interactionCreate', (interaction) => void route(interaction));
      onServerChange(client, onServerChanged(client));
      return client;
    },
    config.discordToken,
    logger,
    onTokenRefused,
  );
}

/**
 * Start order: database, then the HTTP listener (so webhooks are taken even while Discord is
 * unreachable), then the delivery worker, then, on the leader only, the gateway login, which
 * retries in the background.
 */
export async function startDispatch(config: Config, logger: Logger, options: StartOptions = {}): Promise<Dispatch> {
  const now = options.now ?? Date.now;
  const { db, coordinator } = await openStorage(config, logger);
  const { secrets, keyPlace } = await sealSecrets(config, db, logger, now()).catch(async (error: unknown) => {
    await db.close();
    throw error;
  });
  let spool: Spool | undefined;
  const metrics = createMetrics(db, now, () => spool?.isAway ?? false);
  const { channels: discord, guilds, people } = discordRest(config, coordinator, metrics);
  const clock = options.clock ?? systemClock(now);
  const worker = deliveryWorker(config, { db, discord, people, logger, metrics, clock, coordinator });
  // Events stored by this replica or another (and commands that make some due) wake the worker.
  const eventsStored = () => {
    worker.kick();
    coordinator.announce();
  };
  coordinator.onAnnounce(() => worker.kick());
  let storage: WebhookStorage;
  try {
    storage = webhookStorage(config, { db, logger, metrics, now, stored: eventsStored });
  } catch (error) {
    await db.close();
    throw error;
  }
  spool = storage.spool;
  const reconciler = new CardReconciler({
    db,
    logger,
    secrets,
    sentryUrls: config.sentryUrls,
    ...config.cardSync,
    now,
    wake: eventsStored,
  });
  const digests = new DigestScheduler({ db, logger, clock, wake: eventsStored });
  let gateway: Gateway;

  const app = createApp({
    db,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    findTarget: storage.findTarget,
    writeEvent: storage.writeEvent,
    spool,
    timestampToleranceMs: config.timestampToleranceMs,
    secrets,
    metrics,
    metricsToken: config.metricsToken,
    onAccepted: eventsStored,
    requireSignature: config.requireSignature,
    guilds,
    // Assigned right after the listener opens, with no await between: no request is answered before.
    gatewayState: () => gatewayState(gateway.client),
    role: () => coordinator.role(),
    deliveryHealth: () => worker.health(),
    now,
  });
  const server = await listen(app, config.port, config.host).catch(async (error: unknown) => {
    await storage.close();
    await db.close();
    throw error;
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  // Without PUBLIC_URL, the port listened on (PORT=0 picks one): known only now, so what hands out URLs is built after.
  const publicUrl = config.publicUrlIsDefault ? defaultPublicUrl(port) : config.publicUrl;
  logger.info({ url, public_url: publicUrl }, 'webhook listener ready');
  const unreachable = publicUrlWarning(publicUrl, config.publicUrlIsDefault);
  if (unreachable) logger.warn({ public_url: publicUrl }, `⚠️ ${unreachable}`);

  const route = createInteractionRouter(
    { commands, components: componentHandlers, messageCommands },
    {
      db,
      logger,
      publicUrl,
      send: discord.post,
      now,
      secrets,
      flood: config.flood,
      requireSignature: config.requireSignature,
      wakeDelivery: eventsStored,
      tidy: () => void worker.tidy(),
      sentryUrls: config.sentryUrls,
      cardChecks: reconciler,
      digests,
      keyPlace,
      databaseAway: () => spool?.isAway ?? false,
      people,
    },
  );
  gateway = discordGateway(
    config,
    logger,
    now,
    route,
    (client) => (guildId) => {
      void worker.serverChanged(guildId);
      void retryCardThreads(db, client.guilds.cache.get(guildId), logger);
    },
    options.onTokenRefused,
  );

  worker.start();
  storage.start();
  reconciler.start();
  digests.start();
  coordinator.onLeadership((leader) => (leader ? gateway.start() : void gateway.stop()));
  await coordinator.start();

  return {
    url,
    publicUrl,
    db,
    get client() {
      return gateway.client;
    },
    worker,
    coordinator,
    reconciler,
    digests,
    stop: once(() =>
      stopAll({
        logger,
        server,
        worker,
        reconciler,
        digests,
        gateway,
        coordinator,
        storage,
        db,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
      }),
    ),
  };
}
