import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { REST } from 'discord.js';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { createEventWriter } from '../../src/db/event-writer.js';
import { findWebhookTarget } from '../../src/db/sources.js';
import { openPostgres } from '../../src/db/postgres.js';
import { createSecretBox } from '../../src/db/secret-box.js';
import { openSqlite } from '../../src/db/sqlite.js';
import { restChannels } from '../../src/delivery/sender.js';
import { restGuildView } from '../../src/discord/guild-view.js';
import { restPeople, type DiscordPeople } from '../../src/discord/people.js';
import type { DeliveryWorker } from '../../src/delivery/worker.js';
import { deliveryWorker } from '../../src/dispatch.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { singleProcess, type Coordinator } from '../../src/replicas/coordinator.js';
import { CHANNEL_LOCKS } from '../../src/replicas/postgres-coordinator.js';
import pg from 'pg';
import { FakeDiscord, snowflake, type FakeGuild } from '../support/fake-discord.js';
import { tempDir } from '../support/harness.js';
import { freshDatabase } from '../support/postgres.js';
import { sentryRequest } from '../support/sentry.js';
import { SimClock } from './sim-clock.js';
import { FakeSentry } from '../support/fake-sentry.js';
import { Spool } from '../../src/spool/spool.js';
import { SpoolDrainer } from '../../src/spool/drainer.js';
import { SpoolFile } from '../../src/spool/spool-file.js';
import { sql } from 'drizzle-orm';
import type { ChannelId, EventId } from '../../src/ids.js';
import { CardReconciler } from '../../src/cards/reconciler.js';
import { DigestScheduler } from '../../src/schedule/digest-scheduler.js';
import type { CarryOutDeps } from '../../src/triage/carry-out.js';

/** The integration token every simulated source is connected with. */
export const SENTRY_TOKEN = 'sntrys_sim-token';

/** Where the simulated time starts: a fixed instant, so a seed replays the same times. */
const EPOCH = Date.UTC(2026, 0, 5, 9, 0, 0);
/** How long, in wall time, the engine may take to go quiet after a step before the step is called a hot loop. */
const QUIET_WITHIN_MS = 3000;
/** Timers fired at one instant of the simulated clock past which `advance` calls it a loop (a pass, a probe, housekeeping: a few). */
const SAME_INSTANT_TIMERS = 200;

export interface WorldOptions {
  dialect: 'sqlite' | 'postgres';
  /** The run's Postgres (the postgres test project); each world gets a fresh database in it. */
  postgresUrl?: string;
  /** The migrated database each story's is copied from (test/support/postgres-setup.ts). */
  postgresTemplate?: string;
  /** Every log line, for a failing seed's story (SIM_LOG=1). */
  log?: boolean;
}

/** The engine's counters a step's cost is judged by. */
export interface Costs {
  statements: number;
  requests: number;
}

/** CARD_SYNC_WINDOW as configured (its default): the read-back looks at cards changed within it. */
export const CARD_SYNC_WINDOW_MS = 7 * 86_400_000;

/**
 * One simulated installation: two Discord servers (three channels each) in the loopback Discord,
 * the real webhook app, event writer, spool (src/spool: what takes webhooks while the database is
 * away), delivery worker, card lane and routing on a real database, every clock in it the
 * simulation's. What it does not have is the gateway: user actions are the
 * same repository functions the command handlers call (see commands.ts).
 */
export class World {
  readonly clock = new SimClock(EPOCH);
  readonly guilds: FakeGuild[] = [0, 1].map((g) => ({
    id: snowflake(),
    name: `Server ${g}`,
    channels: [0, 1, 2].map((c) => ({ id: snowflake(), name: `g${g}-c${c}`, type: 0 })),
  }));
  /**
   * Members who may connect their own Sentry identity (src/people/): two of server 0 (Sentry users
   * 701 and 702) and one of server 1 who is Sentry user 701 too, each with a personal token.
   */
  readonly people = [
    { guild: 0, sentryUserId: '701' },
    { guild: 1, sentryUserId: '701' },
    { guild: 0, sentryUserId: '702' },
  ].map((p, i) => ({ ...p, userId: snowflake(), token: `sntryu_sim-person-${i}` }));
  readonly costs: Costs = { statements: 0, requests: 0 };
  db!: Database;
  /** Discord's users as Dispatch asks about them: DM channels, membership. */
  discordPeople!: DiscordPeople;
  worker!: DeliveryWorker;
  /** Reads cards back from the loopback Sentry when a story says so (ReadBack). */
  reconciler!: CardReconciler;
  digests!: DigestScheduler;
  /** What a click on a card is carried out with (src/triage/carry-out.ts), as the command handler has it. */
  triage!: CarryOutDeps;
  url!: string;
  config!: Config;
  restarts = 0;
  /** The database answers nothing while set (`setDatabaseAway`): every statement fails as a refused connection would. */
  databaseAway = false;
  /** Webhooks drained from the spool so far (what the stories' DatabaseAway steps exercised). */
  spooled = 0;
  private spoolFile!: SpoolFile;
  private drainer!: SpoolDrainer;
  private server!: Server;
  /**
   * On Postgres, a second Dispatch on the same database (its own connection, worker, digest
   * scheduler and webhook listener): webhooks go to one or the other in turn, and the two share
   * channels as replicas do, through Postgres's advisory locks.
   */
  private second: Instance | undefined;
  private turn = 0;
  /** Discord requests the second instance made (what the stories exercised of two instances sharing channels). */
  secondRequests = 0;
  /** This instance's channel locks (Postgres: a session of its own). */
  private locks: ChannelLocks | undefined;
  private readonly logLines: string[] = [];

  private constructor(
    /** This world's own Postgres database (on Postgres). */
    private readonly postgresUrl: string | undefined,
    readonly discord: FakeDiscord,
    /** Sentry's API, for every source (one organization's token): what each issue is in Sentry, webhook or not. */
    readonly sentry: FakeSentry,
    private readonly connect: () => Promise<Database>,
    private readonly cleanup: () => Promise<void>,
    private readonly options: WorldOptions,
  ) {}

  static async create(options: WorldOptions): Promise<World> {
    let clock: SimClock | undefined;
    const discord = await FakeDiscord.start({ guilds: [], now: () => clock!.now() });
    const sentry = await FakeSentry.start({ token: SENTRY_TOKEN, org: '*' });
    const dir = tempDir('dispatch-sim-');
    const postgresUrl = options.dialect === 'postgres' ? await freshDatabase(options.postgresUrl!, options.postgresTemplate) : undefined;
    const connect = async () => (postgresUrl ? openPostgres(postgresUrl, { max: 4 }) : openSqlite(join(dir.path, 'sim.db')));
    const world = new World(
      postgresUrl,
      discord,
      sentry,
      connect,
      async () => {
        await discord.stop();
        await sentry.stop();
        dir.remove();
      },
      options,
    );
    clock = world.clock;
    for (const person of world.people) {
      const guild = world.guilds[person.guild]!;
      guild.members = [...(guild.members ?? []), person.userId];
      sentry.addPersonalToken(person.token, {
        id: person.sentryUserId,
        name: `Sentry user ${person.sentryUserId}`,
        email: `u${person.sentryUserId}@example.com`,
      });
    }
    discord.guilds.push(...world.guilds);
    world.config = loadConfig({
      DISCORD_TOKEN: 'sim-token',
      DISCORD_API_URL: discord.apiUrl,
      DATABASE_PATH: join(dir.path, 'sim.db'),
      FLOOD_THRESHOLD: '5',
      FLOOD_AFTER: '2s',
      BATCH_LINGER: '500ms',
      // A card older than this moves down when something about it needs eyes (a regression, an alert again).
      CARD_BUMP_AFTER: '2m',
      LOG_LEVEL: 'silent',
      // Large bodies near the limit (LargeWebhook), at a size the stories can afford.
      MAX_BODY_BYTES: '262144',
      // A story's days off (DaysOff) add up to a week or more: nothing it checks is pruned meanwhile.
      EVENT_RETENTION: '365d',
    });
    await world.boot();
    return world;
  }

  guildOf(channelId: string): FakeGuild {
    const found = this.discord.findChannel(this.discord.threads.get(channelId)?.parentId ?? channelId);
    if (!found) throw new Error(`no channel ${channelId}`);
    return found.guild;
  }

  /** The process starts: database, webhook app, delivery worker (no gateway: the simulation acts as the members). */
  private async boot(): Promise<void> {
    const real = await this.connect();
    this.db = counting(real, this.costs, () => this.databaseAway);
    const logger = this.options.log
      ? createLogger({ level: 'debug', pretty: false, destination: { write: (line: string) => this.logLines.push(line) } as never })
      : createLogger({ level: 'silent', pretty: false });
    const now = this.clock.now;
    const metrics = createMetrics(this.db, now);
    const rest = new REST({ api: this.config.discordApiUrl, retries: 0, timeout: 5000 }).setToken(this.config.discordToken);
    rest.on('response', () => void this.costs.requests++);
    this.locks = this.postgresUrl ? await advisoryChannelLocks(this.postgresUrl) : undefined;
    this.worker = deliveryWorker(this.config, {
      db: this.db,
      discord: restChannels(rest),
      people: (this.discordPeople = restPeople(rest)),
      logger,
      metrics,
      clock: this.clock,
      coordinator: sharingChannels(this.locks),
    });
    // As with Postgres: the spool in front of the webhook's look-up and write. Its deadline is long,
    // so that only the database being away spools (not a slow turn of the wall clock).
    this.spoolFile = SpoolFile.open(this.config.spool.path, { synchronous: 'NORMAL', maxBytes: this.config.spool.maxBytes });
    const spooling = {
      file: this.spoolFile,
      db: this.db,
      deadlineMs: 60_000,
      dedupeWindowMs: this.config.dedupeWindowMs,
      now,
      logger,
      metrics,
    };
    const spool = new Spool(spooling);
    this.drainer = new SpoolDrainer({ ...spooling, spool, stored: () => this.worker.kick() });
    const app = createApp({
      db: this.db,
      logger,
      maxBodyBytes: this.config.maxBodyBytes,
      findTarget: (slug) =>
        this.lookup(
          slug,
          spool.findTarget(slug, () => findWebhookTarget(this.db, slug)),
        ),
      writeEvent: spool.writer(createEventWriter(this.db, now, this.config.dedupeWindowMs)),
      timestampToleranceMs: this.config.timestampToleranceMs,
      secrets: createSecretBox(undefined, []),
      metrics,
      metricsToken: undefined,
      onAccepted: () => this.worker.kick(),
      requireSignature: false,
      guilds: restGuildView(rest),
      gatewayState: () => 'ready',
      role: () => 'single',
      deliveryHealth: () => this.worker.health(),
      now,
    });
    this.server = await new Promise<Server>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server));
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.worker.start();
    if (this.options.dialect === 'postgres') this.second = await this.bootSecond(logger);
    this.reconciler = new CardReconciler({
      db: this.db,
      logger,
      secrets: createSecretBox(undefined, []),
      sentryUrls: { allowInsecure: true, allowPrivate: true, timeoutMs: 5000 },
      everyMs: 0, // never by itself: a story's ReadBack step runs it
      windowMs: CARD_SYNC_WINDOW_MS,
      checkAfterMs: 0,
      now,
      pause: async () => {},
      wake: () => this.worker.kick(),
    });
    // Not started: `advance` looks for due digests as the clock moves, so a story never races its loop.
    this.digests = new DigestScheduler({ db: this.db, logger, clock: this.clock, wake: () => this.worker.kick() });
    this.triage = {
      db: this.db,
      secrets: createSecretBox(undefined, []),
      sentryUrls: { allowInsecure: true, allowPrivate: true, timeoutMs: 5000 },
      logger,
      now,
      cardChecks: this.reconciler,
      wakeDelivery: () => this.worker.kick(),
    };
  }

  /** The second instance on Postgres: the same pieces as `boot`'s but the spool and the read-back, on its own connection. */
  private async bootSecond(logger: ReturnType<typeof createLogger>): Promise<Instance> {
    const db = counting(await this.connect(), this.costs, () => this.databaseAway);
    const now = this.clock.now;
    const metrics = createMetrics(db, now);
    const rest = new REST({ api: this.config.discordApiUrl, retries: 0, timeout: 5000 }).setToken(this.config.discordToken);
    rest.on('response', () => void (this.costs.requests++, this.secondRequests++));
    const locks = await advisoryChannelLocks(this.postgresUrl!);
    const worker = deliveryWorker(this.config, {
      db,
      discord: restChannels(rest),
      people: restPeople(rest),
      logger,
      metrics,
      clock: this.clock,
      coordinator: sharingChannels(locks),
    });
    const app = createApp({
      db,
      logger,
      maxBodyBytes: this.config.maxBodyBytes,
      findTarget: (slug) => this.lookup(slug, findWebhookTarget(db, slug)),
      writeEvent: createEventWriter(db, now, this.config.dedupeWindowMs),
      timestampToleranceMs: this.config.timestampToleranceMs,
      secrets: createSecretBox(undefined, []),
      metrics,
      metricsToken: undefined,
      onAccepted: () => worker.kick(),
      requireSignature: false,
      guilds: restGuildView(rest),
      gatewayState: () => 'ready',
      role: () => 'single',
      deliveryHealth: () => worker.health(),
      now,
    });
    const server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    worker.start();
    const digests = new DigestScheduler({ db, logger, clock: this.clock, wake: () => worker.kick() });
    return { db, worker, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, digests, locks };
  }

  /** Where the next webhook goes: this instance, or (on Postgres) the second one, in turn; while the database is away, the one with a spool. */
  /** Who waits for a webhook to have looked its source up, by slug (SplitWebhook changes things only then). */
  private readonly lookupWaiters = new Map<string, (() => void)[]>();

  /** Settles once the next webhook to `slug` has read its source (and routes), on either instance. */
  lookedUp(slug: string): Promise<void> {
    return new Promise((resolve) => this.lookupWaiters.set(slug, [...(this.lookupWaiters.get(slug) ?? []), resolve]));
  }

  private async lookup<T>(slug: string, found: Promise<T>): Promise<T> {
    try {
      return await found;
    } finally {
      const waiters = this.lookupWaiters.get(slug) ?? [];
      this.lookupWaiters.delete(slug);
      for (const resolve of waiters) resolve();
    }
  }

  webhookUrl(): string {
    if (this.databaseAway) return this.url;
    this.turn += 1;
    return this.second && this.turn % 2 === 0 ? this.second.url : this.url;
  }

  private async stopSecond(): Promise<void> {
    const second = this.second;
    this.second = undefined;
    if (!second) return;
    await second.worker.stop(0);
    second.server.closeAllConnections();
    await new Promise<void>((resolve) => second.server.close(() => resolve()));
    await second.locks.close();
    await second.db.close();
  }

  /**
   * The process dies mid-whatever and starts again on the same database: the worker stops without
   * waiting for its sends (their answers still arrive, to a process that can no longer record
   * them), the database is closed and opened again.
   */
  async restart(): Promise<void> {
    this.restarts += 1;
    void this.reconciler.stop();
    void this.worker.stop(0);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.drainer.stop();
    this.spoolFile.close();
    await this.stopSecond();
    await this.locks?.close();
    await this.db.close();
    await this.boot();
  }

  async close(): Promise<void> {
    await this.reconciler.stop();
    await this.worker.stop(0);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.drainer.stop();
    this.spoolFile.close();
    await this.stopSecond();
    await this.locks?.close();
    await this.db.close();
    await this.cleanup();
  }

  /** The database goes away (every statement refused) or comes back; nothing is drained until `drainSpool`. */
  setDatabaseAway(away: boolean): void {
    this.databaseAway = away;
  }

  /** The spool's drain, now (the program's runs every second of wall time; the simulation says when). */
  async drainSpool(): Promise<void> {
    const held = this.spoolFile.count;
    await this.drainer.drainNow();
    expect(this.spoolFile.count, 'the spool drained').toBe(0);
    this.spooled += held;
  }

  /** The id a drained event was stored under, by its bytes (a spooled webhook is answered without one). */
  async eventIdOf(sourceId: number, body: string): Promise<EventId> {
    const row = await this.db.get<{ id: EventId }>(sql`select id from events where source_id = ${sourceId} and body = ${body}`);
    if (!row) throw new Error(`no stored event for source ${sourceId} with those bytes`);
    return row.id;
  }

  /** A webhook as Sentry sends it, signed at the simulated time. */
  post(slug: string, secret: string, resource: string, payload: Record<string, unknown>): Promise<Response> {
    const request = sentryRequest(resource, payload, secret, Math.floor(this.clock.now() / 1000));
    return fetch(`${this.webhookUrl()}/hooks/${slug}`, { method: 'POST', body: request.body, headers: request.headers });
  }

  /**
   * Waits, in wall time, until the engine has nothing to do but wait for the clock: no pass running
   * or about to, and no send in flight but those the loopback Discord holds on purpose. False if
   * it never gets there (a hot loop, or a send that never ends).
   */
  async quiet(): Promise<boolean> {
    const deadline = Date.now() + QUIET_WITHIN_MS;
    const settled = () => {
      const workers = [this.worker, ...(this.second ? [this.second.worker] : [])].map((w) => w.activity());
      const inFlight = workers.reduce((n, w) => n + w.inFlight, 0);
      return workers.every((w) => !w.running && !w.scheduled && !w.tidying) && inFlight <= this.discord.heldAnswers();
    };
    while (Date.now() < deadline) {
      // Settled, and still so once pending callbacks have had their turn: only the clock can wake it now.
      if (settled() && (await new Promise((r) => setImmediate(r)), settled())) return true;
      await new Promise((r) => setTimeout(r, 1));
    }
    return false;
  }

  /** Moves the clock on by `ms`, timer by timer, letting the engine go quiet after each. */
  async advance(ms: number): Promise<boolean> {
    const until = this.clock.now() + ms;
    let quiet = await this.quiet();
    let instant = { at: this.clock.now(), timers: 0 };
    for (;;) {
      while (this.clock.step(until)) {
        quiet = (await this.quiet()) && quiet;
        // A loop on the clock: timers that keep setting timers due at once (a plan asking to be planned again now, forever).
        instant = instant.at === this.clock.now() ? { ...instant, timers: instant.timers + 1 } : { at: this.clock.now(), timers: 1 };
        if (instant.timers > SAME_INSTANT_TIMERS) return false;
      }
      // Quiet hours that ended on the way are summed up (by whichever instance claims each), and the digests delivered like any event.
      if ((await this.tickDigests()) === 0) return quiet;
      quiet = (await this.quiet()) && quiet;
    }
  }

  /** The clock jumps `ms` ahead (the machine slept): what fell due runs once, due digests are made, and the engine goes quiet. */
  async sleep(ms: number): Promise<boolean> {
    this.clock.jump(ms);
    let quiet = await this.quiet();
    while ((await this.tickDigests()) > 0) quiet = (await this.quiet()) && quiet;
    return quiet;
  }

  /** Every instance looks for due digests at once, as replicas do; how many were made. */
  private async tickDigests(): Promise<number> {
    const made = await Promise.all([this.digests.tick(), ...(this.second ? [this.second.digests.tick()] : [])]);
    return made.reduce((a, b) => a + b, 0);
  }

  logs(): string {
    return this.logLines.join('');
  }
}

/** The Database seam, counting the statements it runs (transactions' included), and refusing them all while `away()`. */
function counting(db: Database, costs: Costs, away: () => boolean): Database {
  const refused = () =>
    Promise.reject(Object.assign(new Error('connect ECONNREFUSED (the simulated database is away)'), { code: 'ECONNREFUSED' }));
  const wrap = (inner: Database): Database => ({
    dialect: inner.dialect,
    all: (q) => (away() ? refused() : (costs.statements++, inner.all(q))),
    get: (q) => (away() ? refused() : (costs.statements++, inner.get(q))),
    run: (q) => (away() ? refused() : (costs.statements++, inner.run(q))),
    transaction: (work) => (away() ? refused() : inner.transaction((tx) => work(wrap(tx)))),
    isUsable: async () => !away() && (await inner.isUsable()),
    close: () => inner.close(),
  });
  return wrap(db);
}

/** A second Dispatch on the same database (see World.second). */
interface Instance {
  db: Database;
  worker: DeliveryWorker;
  server: Server;
  url: string;
  digests: DigestScheduler;
  locks: ChannelLocks;
}

interface ChannelLocks {
  take(channelId: ChannelId): Promise<boolean>;
  release(channelId: ChannelId): Promise<void>;
  close(): Promise<void>;
}

/**
 * Channel locks as replicas hold them (src/replicas/postgres-coordinator.ts): a session advisory
 * lock per channel, in the coordinator's namespace, on a connection of the instance's own, one
 * query at a time.
 */
async function advisoryChannelLocks(url: string): Promise<ChannelLocks> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };
  return {
    take: (channelId) =>
      serial(
        async () =>
          (await client.query('select pg_try_advisory_lock($1, hashtext($2)) as ok', [CHANNEL_LOCKS, channelId])).rows[0].ok === true,
      ),
    release: (channelId) =>
      serial(async () => void (await client.query('select pg_advisory_unlock($1, hashtext($2))', [CHANNEL_LOCKS, channelId]))),
    close: () => serial(() => client.end()),
  };
}

/** One process's coordinator, but for the channels: shared through `locks` when there are several instances. */
function sharingChannels(locks: ChannelLocks | undefined): Coordinator {
  const single = singleProcess();
  return locks ? { ...single, takeChannel: (id) => locks.take(id), releaseChannel: (id) => locks.release(id) } : single;
}
