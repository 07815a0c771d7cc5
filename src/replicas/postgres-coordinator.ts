import { hostname } from 'node:os';
import pg from 'pg';
import type { ChannelId } from '../ids.js';
import type { Logger } from '../logger.js';
import type { Coordinator } from './coordinator.js';

export interface PostgresCoordinatorOptions {
  url: string;
  logger: Logger;
  /** How often a standby tries for leadership, and replicas are counted (and the connection proves it is alive). */
  pollMs?: number;
  /** A coordination query unanswered this long means the connection is lost (a network partition, say). */
  queryTimeoutMs?: number;
  /** TCP keepalive starts probing an idle coordination connection after this long. */
  keepAliveAfterMs?: number;
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

/**
 * One query at a time on a connection (pg queues them, but deprecates doing so), in order: a take
 * and a release of the same channel never interleave (session advisory locks count re-entries, so
 * a lock taken twice would survive one unlock).
 */
function serialQueue() {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };
}

/** Opens the coordination connection: it listens for wake-ups and joins, and says it joined. */
async function openCoordination(
  options: Required<Pick<PostgresCoordinatorOptions, 'url' | 'queryTimeoutMs' | 'keepAliveAfterMs'>>,
  on: { lost: (error: unknown) => void; notified: (channel: string) => void },
): Promise<pg.Client> {
  // keepAlive and the timeouts: a replica cut off from Postgres loses its session, and so its
  // locks, rather than holding them over a half-open connection or waiting on it forever.
  const client = new pg.Client({
    connectionString: options.url,
    application_name: replicaApplicationName(),
    keepAlive: true,
    keepAliveInitialDelayMillis: options.keepAliveAfterMs,
    connectionTimeoutMillis: options.queryTimeoutMs,
    query_timeout: options.queryTimeoutMs,
  });
  client.on('error', on.lost);
  client.on('end', () => on.lost(new Error('connection ended')));
  client.on('notification', (message) => on.notified(message.channel));
  try {
    await client.connect();
    await client.query(`LISTEN ${CHANNEL_NOTIFY}; LISTEN ${JOINED_NOTIFY}`);
    await client.query(`NOTIFY ${JOINED_NOTIFY}`);
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return client;
}

async function tryLeadership(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [...LEADER]);
  return rows[0]?.ok === true;
}

async function countReplicas(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    'select count(*)::int as n from pg_stat_activity where application_name like $1 and datname = current_database()',
    [`${REPLICA_APPLICATION} %`],
  );
  return Math.max(1, rows[0]?.n ?? 1);
}

/**
 * Replicas on one Postgres: leadership (the Discord gateway), a sender per channel, wake-ups and
 * the replica count, all on one coordination connection per replica, whose session holds this
 * replica's locks. When that connection is lost, or stops answering (a network partition leaves
 * it half open), the replica steps down at once and closes it, so that its leadership can never
 * overlap another's; it connects again on a later round.
 */
export function postgresCoordinator(options: PostgresCoordinatorOptions): Coordinator {
  const { logger } = options;
  const settings = {
    url: options.url,
    queryTimeoutMs: options.queryTimeoutMs ?? 5000,
    keepAliveAfterMs: options.keepAliveAfterMs ?? 10_000,
  };
  const pollMs = options.pollMs ?? 2000;
  const leadership: ((leader: boolean) => void)[] = [];
  const announced: (() => void)[] = [];
  const serial = serialQueue();
  let client: pg.Client | undefined;
  let leader = false;
  let live = 1;
  /** The count at the previous round: a replica that just died may have sent within the last second. */
  let countedLastRound = 1;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** Channels this replica holds: held locks go with the connection if it breaks. */
  const held = new Set<ChannelId>();

  const setLeader = (value: boolean) => {
    if (leader === value) return;
    leader = value;
    logger.info(
      { role: value ? 'leader' : 'standby' },
      value ? 'this replica leads: it holds the Discord gateway' : 'this replica stands by',
    );
    for (const listener of leadership) listener(value);
  };

  /** The session is gone or cannot be trusted: step down, forget the locks, close the connection. */
  const lost = (error: unknown) => {
    const gone = client;
    if (!gone) return;
    client = undefined;
    held.clear();
    if (!stopped) logger.error({ err: error }, 'lost the coordination connection to Postgres: standing by until it is back');
    setLeader(false);
    // end() would wait on a half-open socket; destroying it frees the connection at once.
    (gone as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    void gone.end().catch(() => {});
  };

  const notified = (channel: string) => {
    if (channel === CHANNEL_NOTIFY) for (const listener of announced) listener();
    if (channel === JOINED_NOTIFY)
      void serial(async () => {
        if (client) live = Math.max(live, await countReplicas(client).catch(() => live));
      });
  };

  /**
   * Reconnects when needed, tries for leadership, counts the replicas. A join counts at once; a
   * departure from the next round on, once the replica gone can no longer have requests in Discord's
   * last second. A query that fails or times out on an open connection loses it.
   */
  const round = async () => {
    if (!client) {
      try {
        client = await openCoordination(settings, { lost, notified });
      } catch (error) {
        if (!stopped) logger.warn({ err: error }, 'could not reach Postgres for coordination; trying again');
        return;
      }
    }
    const c = client;
    try {
      if (!leader && (await tryLeadership(c))) setLeader(true);
      const counted = await countReplicas(c);
      live = Math.max(counted, countedLastRound);
      countedLastRound = counted;
    } catch (error) {
      if (client === c) lost(error);
    }
  };

  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => void serial(round).finally(loop), pollMs);
  };

  const takeChannel = (channelId: ChannelId) =>
    serial(async () => {
      if (held.has(channelId)) return true;
      const c = client;
      if (!c) return false;
      try {
        const { rows } = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [CHANNEL_LOCKS, channelId]);
        const taken = rows[0]?.ok === true && client === c;
        if (taken) held.add(channelId);
        return taken;
      } catch (error) {
        if (client === c) lost(error);
        return false;
      }
    });

  const releaseChannel = (channelId: ChannelId) =>
    serial(async () => {
      if (!held.delete(channelId)) return;
      try {
        await client?.query('select pg_advisory_unlock($1, hashtext($2))', [CHANNEL_LOCKS, channelId]);
      } catch {
        // The connection went: the lock went with it.
      }
    });

  return {
    role: () => (leader ? 'leader' : 'standby'),
    onLeadership: (listener) => void leadership.push(listener),
    takeChannel,
    releaseChannel,
    announce() {
      void serial(async () => client?.query(`NOTIFY ${CHANNEL_NOTIFY}`)).catch(() => {});
    },
    onAnnounce: (listener) => void announced.push(listener),
    replicas: () => live,
    async start() {
      await serial(round);
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
