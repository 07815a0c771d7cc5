import { hostname } from 'node:os';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Coordinator } from './coordinator.js';

export interface PostgresCoordinatorOptions {
  url: string;
  logger: Logger;
  /** How often a standby tries for leadership, and replicas are counted. */
  pollMs?: number;
}

/**
 * Advisory lock keys: one namespace for the leader, one for channels (keyed by hashtext of the
 * channel id; in pg_locks, classid is the namespace and objid the key).
 */
const LEADER = [0x44_49_53_50, 1] as const;
export const CHANNEL_LOCKS = 0x44_49_53_51;
const CHANNEL_NOTIFY = 'dispatch_events';
/** A replica says it joined, so that the others count it (and share the budget) at once. */
const JOINED_NOTIFY = 'dispatch_replicas';
/** How replicas count each other in pg_stat_activity. */
const REPLICA_APPLICATION = 'dispatch-replica';
/**
 * This replica's connection name, e.g. `dispatch-replica web-2/4711` (host/pid): an operator sees in
 * pg_stat_activity and pg_locks which replica leads and which sends to a channel. Postgres keeps 63 bytes.
 */
export function replicaApplicationName(host = hostname(), pid = process.pid): string {
  const suffix = `/${pid}`;
  return `${REPLICA_APPLICATION} ${host.replace(/[^\x20-\x7e]/g, '?')}`.slice(0, 63 - suffix.length) + suffix;
}

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
  /**
   * One query at a time on the coordination connection (pg queues them, but deprecates doing so),
   * and a take and a release of the same channel never interleave: session advisory locks count
   * re-entries, so a lock taken twice would survive one unlock.
   */
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };

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
    // keepAlive and the timeouts: a replica cut off from Postgres loses its session, and so its
    // locks, rather than holding them over a half-open connection or waiting on it forever.
    const next = new pg.Client({
      connectionString: options.url,
      application_name: replicaApplicationName(),
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    next.on('error', lost);
    next.on('end', () => lost(new Error('connection ended')));
    next.on('notification', (message) => {
      if (message.channel === CHANNEL_NOTIFY) for (const listener of announced) listener();
      if (message.channel === JOINED_NOTIFY) void serial(recountAfterJoin);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL_NOTIFY}; LISTEN ${JOINED_NOTIFY}`);
      await next.query(`NOTIFY ${JOINED_NOTIFY}`);
    } catch (error) {
      await next.end().catch(() => {});
      throw error;
    }
    client = next;
  };

  const countReplicas = async (c: pg.Client) => {
    const { rows } = await c.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where application_name like $1 and datname = current_database()',
      [`${REPLICA_APPLICATION} %`],
    );
    return Math.max(1, rows[0]?.n ?? 1);
  };
  /** The count at the previous round: a replica that just died may have sent within the last second. */
  let countedLastRound = 1;
  const recountAfterJoin = async () => {
    if (client) live = Math.max(live, await countReplicas(client).catch(() => live));
  };

  /**
   * Reconnects when needed, tries for leadership, counts the replicas. A join counts at once; a
   * departure from the next round on, once the replica gone can no longer have requests in Discord's
   * last second. Errors wait for the next round.
   */
  const tick = () => serial(round);
  const round = async () => {
    try {
      if (!client) await connect();
      const c = client!;
      if (!leader) {
        const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [...LEADER]);
        if (rows[0]?.ok) setLeader(true);
      }
      const counted = await countReplicas(c);
      live = Math.max(counted, countedLastRound);
      countedLastRound = counted;
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
    takeChannel: (channelId) =>
      serial(async () => {
        if (held.has(channelId)) return true;
        const c = client;
        if (!c) return false;
        try {
          const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [
            CHANNEL_LOCKS,
            channelId,
          ]);
          const taken = rows[0]?.ok === true && client === c;
          if (taken) held.add(channelId);
          return taken;
        } catch {
          return false;
        }
      }),
    releaseChannel: (channelId) =>
      serial(async () => {
        if (!held.delete(channelId)) return;
        try {
          await client?.query('select pg_advisory_unlock($1, hashtext($2))', [CHANNEL_LOCKS, channelId]);
        } catch {
          // The connection went: the lock went with it.
        }
      }),
    announce() {
      void serial(async () => client?.query(`NOTIFY ${CHANNEL_NOTIFY}`)).catch(() => {});
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
