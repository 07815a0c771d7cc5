import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/db/postgres.js';
import { updateRoute } from '../../src/db/routes.js';
import { deleteSource, setSourceEnabled } from '../../src/db/sources.js';
import { KNOWN_SOURCES_READ } from '../../src/spool/known-targets.js';
import { asChannelId } from '../../src/ids.js';
import type { FakeDiscord } from '../support/fake-discord.js';
import { tempDir, waitFor } from '../support/harness.js';
import { health, issue, postedIds, replicasBehindProxy, type Replica, type ReplicaSource } from '../support/replicas.js';
import { sentryRequest } from '../support/sentry.js';

/**
 * Replicas (real processes) behind a proxy to Postgres that the test cuts, as a failover or a
 * restart does: each keeps the webhooks it verifies in its own spool and acknowledges them, then
 * drains the spool into Postgres once it is back. Only in the `postgres` test project.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function post(replica: Replica, source: ReplicaSource, shortId: string): Promise<number> {
  const { body, headers } = sentryRequest('issue', issue(shortId), 'sek');
  return (await fetch(`${replica.url}/hooks/${source.slug}`, { method: 'POST', body, headers })).status;
}

/** `dispatch_spool_events_total{outcome=…}` of one replica. */
async function spoolOutcome(replica: Replica, outcome: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`dispatch_spool_events_total{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Every replica has an empty spool and nothing waiting to be sent: whatever was to be posted (twice, too) has been. */
async function settled(replicas: Replica[]): Promise<void> {
  for (const replica of replicas) {
    await expect
      .poll(
        async () => {
          const { body } = await health(replica);
          return body.database === 'ok' && body.spooled === 0 && (body as unknown as { queue: { depth: number } }).queue.depth === 0;
        },
        { timeout: 60_000, interval: 200 },
      )
      .toBe(true);
  }
}

/** Each replica reads each source once while Postgres is there: the last good read it will go on. */
async function warmUp(discord: FakeDiscord, replicas: Replica[], sources: ReplicaSource[]): Promise<void> {
  for (const replica of replicas)
    for (const source of sources) expect(await post(replica, source, `WARM-${replica.name.toUpperCase()}`)).toBe(202);
  for (const source of sources)
    await waitFor(() => postedIds(discord, source.channelId).length === replicas.length, 15_000, 'warm-ups posted');
}

/** The ids a replica acknowledged, in its order, as they appear among those posted. */
function inOrderOf(posted: string[], acknowledged: string[]): string[] {
  const mine = new Set(acknowledged);
  return posted.filter((id) => mine.has(id));
}

describe('a Postgres failover', () => {
  it('cut for 30 s while a webhook arrives every 100 ms at two replicas: all 300 acknowledged, each posted once, in the order each replica took them', async () => {
    const { discord, sources, proxy, replicas } = await replicasBehindProxy({ names: ['a', 'b'], channels: 2, cleanups });
    await expect.poll(() => discord.gatewayClients, { timeout: 15_000 }).toBe(1);
    await warmUp(discord, replicas, sources);

    proxy.cut();
    const cutAt = Date.now();
    // Round-robin over the replicas, two at a time per source, four at a time per issue: each
    // issue's events reach both replicas, for both sources.
    const acknowledged = new Map<string, string[]>(replicas.flatMap((r) => sources.map((s) => [`${r.name}/${s.channelId}`, []])));
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, Math.max(0, cutAt + i * 100 - Date.now())));
      const replica = replicas[i % 2]!;
      const source = sources[Math.floor(i / 2) % 2]!;
      const shortId = `I${Math.floor(i / 4) % 5}-${i}`;
      if ((await post(replica, source, shortId)) === 202) acknowledged.get(`${replica.name}/${source.channelId}`)!.push(shortId);
      else refused += 1;
      if (i === 150)
        for (const r of replicas) {
          const { status, body } = await health(r);
          expect(status).toBe(200);
          expect(body).toMatchObject({ status: 'degraded', database: 'away' });
          expect(body.spooled).toBeGreaterThan(0);
        }
    }
    const cutFor = Date.now() - cutAt;
    proxy.restore();
    const restoredAt = Date.now();
    expect(refused).toBe(0);

    for (const source of sources) {
      const expected = replicas.flatMap((r) => acknowledged.get(`${r.name}/${source.channelId}`)!).length + replicas.length;
      await waitFor(() => postedIds(discord, source.channelId).length >= expected, 60_000, 'every acknowledged event posted');
    }
    const allPostedIn = Date.now() - restoredAt;
    await settled(replicas);
    for (const source of sources) {
      const posted = postedIds(discord, source.channelId).filter((id) => !id.startsWith('WARM-'));
      const mine = replicas.map((r) => acknowledged.get(`${r.name}/${source.channelId}`)!);
      // Exactly once: what was posted is what was acknowledged, nothing twice.
      expect([...posted].sort()).toEqual(mine.flat().sort());
      // In order: each replica's events in the order it acknowledged them (so each issue's too).
      for (const ids of mine) expect(inOrderOf(posted, ids)).toEqual(ids);
    }
    const drains = replicas.flatMap((r) => r.logs.filter((l) => l.msg === 'spool drained: every spooled event is in Postgres'));
    console.log(
      `spool: Postgres cut for ${(cutFor / 1000).toFixed(1)} s; 300 webhooks, 300 acknowledged; drained ` +
        drains.map((d) => `${d.drained} in ${d.ms} ms`).join(', ') +
        `; all posted ${allPostedIn} ms after Postgres was back`,
    );
  }, 150_000);

  it('a replica killed with a non-empty spool drains it at its next start; a source deleted meanwhile is dropped and counted, a route moved takes its events to its new channel', async () => {
    const { guild, discord, sources, proxy, replicas, directUrl, startNamed } = await replicasBehindProxy({
      names: ['a', 'b'],
      channels: 3,
      spare: 1,
      cleanups,
    });
    const [deleted, moved, untouched] = sources as [ReplicaSource, ReplicaSource, ReplicaSource];
    const spare = guild.channels.find((c) => c.name === 'spare-0')!.id;
    await expect.poll(() => discord.gatewayClients, { timeout: 15_000 }).toBe(1);
    await warmUp(discord, replicas, sources);

    proxy.cut();
    const sent = new Map<string, string[]>(replicas.map((r) => [r.name, []]));
    for (const replica of replicas)
      for (let k = 0; k < 5; k++)
        for (const source of sources) {
          const shortId = `${replica.name.toUpperCase()}${sources.indexOf(source)}-${k}`;
          expect(await post(replica, source, shortId)).toBe(202);
          sent.get(replica.name)!.push(shortId);
        }
    const [a, b] = replicas as [Replica, Replica];
    expect((await health(a)).body.spooled).toBe(15);
    a.alive = false;
    a.process.kill('SIGKILL');
    await a.exited;

    // Meanwhile, on a replica that still reaches Postgres: a source deleted, a route moved.
    const db = await openPostgres(directUrl);
    await deleteSource(db, deleted, Date.now());
    await updateRoute(db, moved.route, { channelId: asChannelId(spare) }, Date.now());
    await db.close();

    proxy.restore();
    const restarted = await startNamed('a', a.databasePath);
    expect(restarted.logs.some((l) => l.msg === 'the spool holds events from before: draining them' && l.spooled === 15)).toBe(true);
    await settled([b, restarted]);

    const from = (replica: string, source: ReplicaSource) =>
      sent.get(replica)!.filter((id) => id.startsWith(`${replica.toUpperCase()}${sources.indexOf(source)}-`));
    expect(postedIds(discord, deleted.channelId)).toEqual(['WARM-A', 'WARM-B']);
    expect(postedIds(discord, moved.channelId)).toEqual(['WARM-A', 'WARM-B']);
    const inSpare = postedIds(discord, spare);
    const inUntouched = postedIds(discord, untouched.channelId).slice(2);
    for (const [posted, source] of [
      [inSpare, moved],
      [inUntouched, untouched],
    ] as const) {
      expect([...posted].sort()).toEqual([...from('a', source), ...from('b', source)].sort());
      for (const replica of ['a', 'b']) expect(inOrderOf(posted, from(replica, source))).toEqual(from(replica, source));
    }
    expect(await spoolOutcome(b, 'source_gone')).toBe(5);
    expect(await spoolOutcome(restarted, 'source_gone')).toBe(5);
    expect(await spoolOutcome(restarted, 'stored')).toBe(10);
  }, 120_000);

  it('a replica that never took a webhook for a source accepts it into its spool while Postgres is away; a disabled or deleted source is still refused', async () => {
    const { discord, sources, proxy, directUrl, startNamed } = await replicasBehindProxy({ names: [], channels: 3, cleanups });
    const [live, disabled, deleted] = sources as [ReplicaSource, ReplicaSource, ReplicaSource];
    const db = await openPostgres(directUrl);
    await setSourceEnabled(db, disabled, false, Date.now());
    await deleteSource(db, deleted, Date.now());
    await db.close();
    const dir = tempDir('dispatch-cold-');
    cleanups.push(() => dir.remove());
    // Started just before the outage: no webhook has reached it yet.
    const cold = await startNamed('cold', join(dir.path, 'dispatch.db'));
    await waitFor(() => cold.logs.some((l) => l.msg === KNOWN_SOURCES_READ), 15_000, 'the live sources read');
    await expect.poll(() => discord.gatewayClients, { timeout: 15_000 }).toBe(1);

    proxy.cut();
    expect(await post(cold, live, 'COLD-1')).toBe(202);
    expect(await post(cold, disabled, 'COLD-2')).toBe(404);
    // Not a live source as far as it knows: refused as any source it cannot vouch for while Postgres is away.
    expect(await post(cold, deleted, 'COLD-3')).toBe(503);
    expect((await health(cold)).body).toMatchObject({ database: 'away', spooled: 1 });
    proxy.restore();
    await waitFor(() => postedIds(discord, live.channelId).includes('COLD-1'), 30_000, 'the spooled event posted');
    await settled([cold]);
    expect(postedIds(discord, live.channelId)).toEqual(['COLD-1']);
    expect(postedIds(discord, disabled.channelId)).toEqual([]);
  }, 90_000);
});
