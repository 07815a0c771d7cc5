import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/harness.js';
import { health, issue, postedIds, replicasBehindProxy, type Replica } from '../support/replicas.js';
import { sentryRequest } from '../support/sentry.js';

/**
 * A connection lost in the middle of a transaction (a failover, Postgres restarted) must fail that
 * transaction, not the process: a client checked out of the pool has no listener of the pool's for
 * its 'error' event. Only in the `postgres` test project.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const post = (replica: Replica, slug: string, shortId: string) => {
  const { body, headers } = sentryRequest('issue', issue(shortId), 'sek');
  return fetch(`${replica.url}/hooks/${slug}`, { method: 'POST', body, headers });
};

describe('the connection to Postgres cut in the middle of a transaction', () => {
  it('on the leader and on a standby: neither process dies, and both serve again once Postgres is back', async () => {
    const { discord, sources, proxy, replicas, directUrl } = await replicasBehindProxy({ names: ['a', 'b'], channels: 1, cleanups });
    const [source] = sources;
    await expect.poll(() => discord.gatewayClients, { timeout: 15_000 }).toBe(1);
    const roles = await Promise.all(replicas.map(async (r) => (await health(r)).body.replica));
    expect(roles.sort()).toEqual(['leader', 'standby']);

    // The test holds the source's row, so each replica's webhook transaction waits inside, on it.
    const admin = new pg.Client({ connectionString: directUrl });
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query('begin');
    await admin.query('select 1 from sources where id = $1 for update', [source!.id]);
    const inFlight = replicas.map((replica) => post(replica, source!.slug, `MID-${replica.name.toUpperCase()}`).then((r) => r.status));
    const waiting = async () =>
      (
        await admin.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database() and pid <> pg_backend_pid()",
        )
      ).rows[0]!.n;
    await expect.poll(waiting, { timeout: 10_000 }).toBe(2);

    // Postgres does not answer their writes in time: each keeps its webhook in its spool and acknowledges it.
    expect(await Promise.all(inFlight)).toEqual([202, 202]);
    proxy.cut();
    await admin.query('rollback');
    // The transactions still waiting on the lock fail with their connections; the processes go on.
    for (const replica of replicas) {
      await expect.poll(async () => (await health(replica)).body.database, { timeout: 10_000 }).toBe('away');
      expect(replica.process.exitCode).toBeNull();
    }

    proxy.restore();
    for (const replica of replicas) {
      await expect
        .poll(async () => (await post(replica, source!.slug, `AFTER-${replica.name.toUpperCase()}`)).status, { timeout: 20_000 })
        .toBe(202);
      await expect.poll(async () => (await health(replica)).body.database, { timeout: 10_000 }).toBe('ok');
    }
    await expect.poll(() => discord.gatewayClients, { timeout: 15_000 }).toBe(1);
    // The spooled ones were drained before the ones that came after, and each is posted once.
    const everyId = ['MID-A', 'MID-B', 'AFTER-A', 'AFTER-B'];
    await waitFor(() => everyId.every((id) => postedIds(discord, source!.channelId).includes(id)), 15_000, 'all posted');
    const posted = postedIds(discord, source!.channelId);
    expect([...posted].sort()).toEqual([...everyId].sort());
    for (const name of ['A', 'B']) expect(posted.indexOf(`MID-${name}`)).toBeLessThan(posted.indexOf(`AFTER-${name}`));
    for (const replica of replicas) expect(replica.process.exitCode).toBeNull();
  }, 90_000);
});
