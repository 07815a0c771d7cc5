import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { postgresCoordinator } from '../../src/replicas/postgres-coordinator.js';
import type { Coordinator } from '../../src/replicas/coordinator.js';
import { waitFor } from '../support/harness.js';
import { migratedDatabase } from '../support/postgres.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/**
 * A leader cut off from Postgres by a network partition (its connection open and silent, so no
 * error or end ever arrives) must stand down by itself: otherwise another replica, once Postgres
 * has dropped the silent session, takes the leader lock too and two gateway sessions answer the
 * same commands. Only in the `postgres` test project.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const silent = createLogger({ level: 'silent', pretty: false });

function track(name: string, coordinator: Coordinator, log: { who: string; leader: boolean; at: number }[]) {
  coordinator.onLeadership((leader) => log.push({ who: name, leader, at: Date.now() }));
  cleanups.push(() => coordinator.stop());
  return coordinator;
}

describe('a network partition between the leader and Postgres', () => {
  it('the leader stands down on its own, before any other replica can lead', async () => {
    const url = new URL(await migratedDatabase());
    const proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
    cleanups.push(() => proxy.stop());
    const throughProxy = new URL(url);
    throughProxy.host = `127.0.0.1:${proxy.port}`;
    const log: { who: string; leader: boolean; at: number }[] = [];
    const options = { logger: silent, pollMs: 200, queryTimeoutMs: 1000 };
    const a = track('a', postgresCoordinator({ ...options, url: throughProxy.toString() }), log);
    await a.start();
    expect(a.role()).toBe('leader');
    const b = track('b', postgresCoordinator({ ...options, url: url.toString() }), log);
    await b.start();
    expect(b.role()).toBe('standby');

    const cutAt = Date.now();
    proxy.partition();
    await waitFor(() => a.role() === 'standby', 10_000, 'the cut-off leader to stand down');
    const stoodDown = log.find((e) => e.who === 'a' && !e.leader)!.at;
    expect(stoodDown - cutAt).toBeLessThan(5000);

    // Postgres notices the silent session only later (tcp_keepalives_idle); here it is ended by hand.
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where client_port = any($1::int[])', [proxy.upstreamPorts()]);
    await waitFor(() => b.role() === 'leader', 10_000, 'the other replica to lead');
    const led = log.find((e) => e.who === 'b' && e.leader)!.at;
    expect(led).toBeGreaterThanOrEqual(stoodDown);
    expect(a.role()).toBe('standby');
  });
});
