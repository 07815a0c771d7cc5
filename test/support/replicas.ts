import { join } from 'node:path';
import { openPostgres } from '../../src/db/postgres.js';
import { createSource } from '../../src/db/sources.js';
import type { Route, Source } from '../../src/db/schema.js';
import { asChannelId, asGuildId } from '../../src/ids.js';
import { startChild, type ChildDispatch } from './child.js';
import { FakeDiscord, snowflake, type FakeDiscordOptions, type FakeGuild } from './fake-discord.js';
import { tempDir, testEnv } from './harness.js';
import { migratedDatabase } from './postgres.js';
import { loadFixture } from './sentry.js';
import { TcpProxy } from './tcp-proxy.js';

/** A Dispatch process on Postgres, as a load balancer sees it. */
export type Replica = ChildDispatch & { alive: boolean; name: string; databasePath: string };

export interface ReplicaHealth {
  status: string;
  database: string;
  spooled?: number;
  replica?: string;
  discord: { gateway: string };
}

export async function health(replica: Pick<Replica, 'url'>): Promise<{ status: number; body: ReplicaHealth }> {
  const response = await fetch(`${replica.url}/healthz`);
  return { status: response.status, body: (await response.json()) as ReplicaHealth };
}

const base = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };

/** An `issue.created` payload whose short id tells the messages apart. */
export const issue = (shortId: string) => ({ ...base, data: { issue: { ...base.data.issue, shortId } } });

/** The short ids of the embeds posted in a channel, in the order Discord shows them. */
export function postedIds(discord: FakeDiscord, channelId: string): string[] {
  return discord
    .messagesIn(channelId)
    .flatMap((m) => m.embeds)
    .map((embed) => /· ([A-Z0-9-]+)$/.exec((embed as { author?: { name: string } }).author?.name ?? '')?.[1] ?? '?');
}

export type ReplicaSource = Source & { channelId: string; route: Route };

/**
 * Replicas whose every connection to Postgres goes through a proxy the test can cut (a failover, a
 * restart), each with its own data folder (DATABASE_PATH: where its spool is kept), and feed
 * sources signed with `sek`, one per channel of the guild (`team-<i>`), then `spare` channels
 * with no source (`spare-<i>`).
 */
export async function replicasBehindProxy(options: {
  names: string[];
  channels: number;
  spare?: number;
  env?: Record<string, string>;
  discord?: FakeDiscordOptions;
  cleanups: (() => Promise<unknown> | unknown)[];
}) {
  const { cleanups } = options;
  const guild: FakeGuild = {
    id: snowflake(),
    name: 'Acme',
    channels: [
      ...Array.from({ length: options.channels }, (_, i) => ({ id: snowflake(), name: `team-${i}`, type: 0 })),
      ...Array.from({ length: options.spare ?? 0 }, (_, i) => ({ id: snowflake(), name: `spare-${i}`, type: 0 })),
    ],
  };
  const discord = await FakeDiscord.start({ guilds: [guild], ...options.discord });
  cleanups.push(() => discord.stop());
  const direct = new URL(await migratedDatabase());
  const db = await openPostgres(direct.toString());
  const sources: ReplicaSource[] = [];
  for (const [i, channel] of guild.channels.slice(0, options.channels).entries()) {
    const input = { guildId: asGuildId(guild.id), channelId: asChannelId(channel.id), layout: 'feed' as const };
    const { source, route } = await createSource(db, { ...input, name: `team-${i}`, signingSecret: 'sek', createdBy: '1' }, Date.now());
    sources.push({ ...source, channelId: channel.id, route });
  }
  await db.close();
  const proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port) });
  cleanups.push(() => proxy.stop());
  const throughProxy = new URL(direct);
  throughProxy.host = `127.0.0.1:${proxy.port}`;

  const start = async (name: string): Promise<Replica> => {
    const dir = tempDir(`dispatch-${name}-`);
    cleanups.push(() => dir.remove());
    return startNamed(name, join(dir.path, 'dispatch.db'));
  };
  /** Starts a replica on a data folder (again, after a kill, to find its spool). */
  const startNamed = async (name: string, databasePath: string): Promise<Replica> => {
    const env = testEnv(discord, databasePath, {
      DATABASE_URL: throughProxy.toString(),
      RETRY_SCHEDULE: '50ms,100ms,200ms',
      BATCH_LINGER: '20ms',
      SHUTDOWN_TIMEOUT: '1s',
      FLOOD_THRESHOLD: '100000',
      ...options.env,
    });
    const child = await startChild(env);
    cleanups.push(() => void child.process.kill('SIGKILL'));
    return Object.assign(child, { alive: true, name, databasePath });
  };
  const replicas = await Promise.all(options.names.map(start));
  return { guild, discord, sources, proxy, replicas, directUrl: direct.toString(), startNamed };
}
