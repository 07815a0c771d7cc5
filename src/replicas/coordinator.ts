import pg from 'pg';
import type { Logger } from '../logger.js';

/**
 * What replicas agree on, through Postgres's own primitives (no consensus of ours): which one holds
 * the Discord gateway (an advisory lock), which one sends to each channel (an advisory lock per
 * channel), that new events exist (LISTEN/NOTIFY), and how many replicas share the bot's global
 * rate limit (their coordination connections in pg_stat_activity). Session locks live and die with
 * the connection, so a replica killed mid-send frees its leadership and channels at once.
 *
 * With SQLite there is one process: it leads, and every channel is its own.
 */
export interface Coordinator {
  /** `single` (SQLite), or with Postgres `leader` (holds the gateway) or `standby`. */
  role(): 'single' | 'leader' | 'standby';
  /** Called when this replica becomes the leader, and when it stops being one. */
  onLeadership(listener: (leader: boolean) => void): void;
  /** Takes the right to send to a channel; false while another replica has it. */
  takeChannel(channelId: string): Promise<boolean>;
  releaseChannel(channelId: string): Promise<void>;
  /** Tells the other replicas that events (or a change that makes some due) were stored. */
  announce(): void;
  /** Called when another replica announces. */
  onAnnounce(listener: () => void): void;
  /** Live replicas, this one included. */
  replicas(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One process on SQLite: it leads, holds every channel, and needs to tell nobody. */
export function singleProcess(): Coordinator {
  const leadership: ((leader: boolean) => void)[] = [];
  return {
    role: () => 'single',
    onLeadership: (listener) => void leadership.push(listener),
    takeChannel: async () => true,
    releaseChannel: async () => {},
    announce: () => {},
    onAnnounce: () => {},
    replicas: () => 1,
    start: async () => {
      for (const listener of leadership) listener(true);
    },
    stop: async () => {},
  };
}

export interface PostgresCoordinatorOptions {
  url: string;
  logger: Logger;
  /** How often a standby tries for leadership, and replicas are counted. */
  pollMs?: number;
}

/** Advisory lock keys: one namespace for the leader, one for channels (keyed by hashtext of the id). */
const LEADER = [0x44_49_53_50, 1] as const;
const CHANNELS = 0x44_49_53_51;
const CHANNEL_NOTIFY = 'dispatch_events';
/** Shown in pg_stat_activity, and how replicas count each other. */
export const REPLICA_APPLICATION = 'dispatch-replica';

export function postgresCoordinator(options: PostgresCoordinatorOptions): Coordinator {
  const { logger } = options;
  const pollMs = options.pollMs ?? 2000;
  const leadership: ((leader: boolean) => void)[] = [];
  const announced: (() => void)[] = [];
  let client: pg.Client | undefined;
  let leader = false;
  let live = 1;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** Channels this replica holds: held locks go with the connection if it breaks. */
  const held = new Set<string>();

  const setLeader = (value: boolean) => {
    if (leader === value) return;
    leader = value;
    logger.info(
      { role: value ? 'leader' : 'standby' },
      value ? 'this replica leads: it holds the Discord gateway' : 'this replica stands by',
    );
    for (const listener of leadership) listener(value);
  };

  const lost = (error: unknown) => {
    if (!client) return;
    logger.error({ err: error }, 'lost the coordination connection to Postgres: standing by until it is back');
    client = undefined;
    held.clear();
    setLeader(false);
  };

  const connect = async () => {
    const next = new pg.Client({ connectionString: options.url, application_name: REPLICA_APPLICATION });
    next.on('error', lost);
    next.on('end', () => lost(new Error('connection ended')));
    next.on('notification', (message) => {
      if (message.channel === CHANNEL_NOTIFY) for (const listener of announced) listener();
    });
    await next.connect();
    await next.query(`LISTEN ${CHANNEL_NOTIFY}`);
    client = next;
  };

  /** Reconnects when needed, tries for leadership, counts the replicas. Errors wait for the next round. */
  const tick = async () => {
    try {
      if (!client) await connect();
      const c = client!;
      if (!leader) {
        const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [...LEADER]);
        if (rows[0]?.ok) setLeader(true);
      }
      const { rows } = await c.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where application_name = $1 and datname = current_database()',
        [REPLICA_APPLICATION],
      );
      live = Math.max(1, rows[0]?.n ?? 1);
    } catch (error) {
      if (!stopped) logger.warn({ err: error }, 'coordination round failed; trying again');
    }
  };

  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => void tick().finally(loop), pollMs);
  };

  return {
    role: () => (leader ? 'leader' : 'standby'),
    onLeadership: (listener) => void leadership.push(listener),
    async takeChannel(channelId) {
      if (held.has(channelId)) return true;
      const c = client;
      if (!c) return false;
      try {
        const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [CHANNELS, channelId]);
        if (rows[0]?.ok && client === c) held.add(channelId);
        return rows[0]?.ok === true && client === c;
      } catch {
        return false;
      }
    },
    async releaseChannel(channelId) {
      if (!held.delete(channelId)) return;
      try {
        await client?.query('select pg_advisory_unlock($1, hashtext($2))', [CHANNELS, channelId]);
      } catch {
        // The connection went: the lock went with it.
      }
    },
    announce() {
      client?.query(`NOTIFY ${CHANNEL_NOTIFY}`).catch(() => {});
    },
    onAnnounce: (listener) => void announced.push(listener),
    replicas: () => live,
    async start() {
      await tick();
      loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      held.clear();
      await c?.end().catch(() => {});
    },
  };
}
