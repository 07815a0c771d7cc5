import { request } from 'node:http';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { findRoute, updateRoute } from '../../src/db/routes.js';
import { deleteSource, setSourceEnabled } from '../../src/db/sources.js';
import type { Route } from '../../src/db/schema.js';
import { asChannelId } from '../../src/ids.js';
import { startHarness, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { admin, answerOf, shownText, slash, str } from '../support/interactions.js';
import { scheduleWorld } from '../support/schedule-world.js';
import { sourceRow } from '../support/db.js';
import { holdChannel } from '../../src/db/holds.js';
import { expireHeld } from '../../src/db/deliveries.js';
import { sentryRequest } from '../support/sentry.js';
import { payloadOf } from '../simulation/payloads.js';

/**
 * Issue 28's review, one test per finding, each written to fail on the release it was found in:
 * whether a delivery waits, is sent, is held for quiet hours or is digested is decided in one place
 * (src/db/delivery-state/), from the route as it is when the row is written or moved.
 */
let h: Harness | undefined;
let w: Awaited<ReturnType<typeof scheduleWorld>> | undefined;
afterEach(async () => {
  await h?.close();
  await w?.close();
  h = w = undefined;
});

/** Quiet hours around the wall clock now (UTC): an event arriving now is held by a feed route. */
function quietNow(): Parameters<typeof updateRoute>[2] {
  const minutes = new Date().getUTCHours() * 60 + new Date().getUTCMinutes();
  return { schedule: { quietFrom: (minutes + 1440 - 120) % 1440, quietTo: (minutes + 120) % 1440 } };
}

/**
 * Posts a signed webhook whose body arrives in two parts, running `between` after the first: the
 * webhook has looked its source and routes up, and is not yet stored.
 */
async function splitWebhook(harness: Harness, source: TestSource, marks: Parameters<typeof payloadOf>[1], between: () => Promise<void>) {
  const { body, headers } = sentryRequest('issue', payloadOf('issue.created', marks) as Record<string, unknown>, source.signingSecret!);
  const bytes = Buffer.from(body);
  return new Promise<number>((resolve, reject) => {
    const req = request(
      `${harness.dispatch.url}/hooks/${source.slug}`,
      { method: 'POST', headers: { ...headers, 'content-length': String(bytes.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(bytes.subarray(0, bytes.length >> 1));
    // Sent once the first half is surely read: the source was looked up when the request began.
    setTimeout(() => {
      void between()
        .catch(reject)
        .finally(() => req.end(bytes.subarray(bytes.length >> 1)));
    }, 150);
  });
}

const route = async (harness: Harness, source: TestSource): Promise<Route> => (await findRoute(harness.dispatch.db, source.id, 'main'))!;

describe('a webhook whose decision and commit are split around a route change (item 1)', () => {
  it('quiet hours turned off while the webhook is being received: the event is posted, not held forever', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '20ms' } });
    const harness = h;
    const source = await harness.addSource({ secret: 'sek', layout: 'feed' });
    await updateRoute(harness.dispatch.db, await route(harness, source), quietNow(), Date.now());
    const status = await splitWebhook(
      harness,
      source,
      { event: 'EVSLOW1X', issue: 'ISS-SLOW', issueId: '7771', level: 'warning' },
      async () => {
        await updateRoute(harness.dispatch.db, await route(harness, source), { schedule: { quietFrom: null, quietTo: null } }, Date.now());
      },
    );
    expect(status).toBe(202);
    const posted = await harness.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('EVSLOW1X'), 10_000);
    expect(posted.channel_id).toBe(source.channelId);
  });

  it('a feed route turned into cards while the webhook is being received: its card is posted, not swallowed by a digest', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '20ms' } });
    const harness = h;
    const source = await harness.addSource({ secret: 'sek', layout: 'feed' });
    await updateRoute(harness.dispatch.db, await route(harness, source), quietNow(), Date.now());
    const status = await splitWebhook(
      harness,
      source,
      { event: 'EVCARD1X', issue: 'ISS-CARD', issueId: '7772', level: 'warning' },
      async () => {
        await updateRoute(harness.dispatch.db, await route(harness, source), { layout: 'card' }, Date.now());
      },
    );
    expect(status).toBe(202);
    const card = await harness.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('ISS-CARD'), 10_000);
    // A card made in quiet hours: posted without a notification.
    expect(card.flags).toBe(4096);
  });
});

describe('notify or stay silent, decided once (item 5)', () => {
  it('a scheduled digest due inside quiet hours is posted without a notification; outside them, with one', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const setClock = (iso: string) => void (offset = Date.parse(iso) - Date.now());
    setClock('2026-01-10T01:00:00Z');
    h = await startHarness({ env: { BATCH_LINGER: '20ms' }, start: { now } });
    const source = await h.addSource({ secret: 'sek', layout: 'feed' });
    const schedule = {
      quietFrom: 22 * 60,
      quietTo: 8 * 60,
      digestEvery: 'daily',
      digestAt: 3 * 60,
      digestWeekday: 0,
      digestWhenEmpty: true,
    } as const;
    await updateRoute(h.dispatch.db, await route(h, source), { schedule }, now());
    setClock('2026-01-10T03:00:10Z'); // inside quiet hours (22:00-08:00 UTC), the daily digest is due
    expect(await h.dispatch.digests.tick()).toBeGreaterThan(0);
    const quiet = await h.discord.waitForMessage((m) => m.channel_id === source.channelId, 10_000);
    expect(quiet.flags).toBe(4096);
    await updateRoute(h.dispatch.db, await route(h, source), { schedule: { digestAt: 9 * 60 } }, now());
    setClock('2026-01-11T09:00:10Z'); // outside quiet hours
    expect(await h.dispatch.digests.tick()).toBeGreaterThan(0);
    const daily = await h.discord.waitForMessage(
      (m) => JSON.stringify(m.embeds).includes('Daily digest') && JSON.stringify(m.embeds).includes('– Sun 11 Jan, 09:00'),
      10_000,
    );
    expect(daily.flags ?? 0).toBe(0);
    expect(h.discord.messagesIn(source.channelId)[1]!.flags ?? 0).toBe(0);
  });
});

describe('digests of one night, and of a disabled source (items 6 and 7)', () => {
  it('quiet hours ending in the hour the clock skips make one digest of the night', async () => {
    w = await scheduleWorld('feed');
    w.setClock('2026-03-28T12:00:00Z');
    await w.edit({ schedule: { quietFrom: 22 * 60, quietTo: 2 * 60 + 30, timeZone: 'Europe/Berlin' } });
    w.setClock('2026-03-28T22:00:00Z'); // 23:00 CET: quiet
    await w.send('issue.created', 'N1', 'warning');
    await w.send('issue.created', 'N2', 'error');
    expect(await w.statuses()).toEqual(['quiet:2']);
    // 01:00Z: the clock jumps from 02:00 CET to 03:00 CEST, past 02:30: quiet hours are over.
    for (const at of ['2026-03-29T01:00:30Z', '2026-03-29T01:01:00Z', '2026-03-29T01:30:30Z', '2026-03-29T01:31:00Z']) {
      w.setClock(at);
      await w.scheduler.tick();
    }
    const mentioning = (await w.digestBodies()).filter((b) => b.data.description.includes('ISS-N1'));
    expect(mentioning.map((b) => b.data.title)).toEqual([expect.stringContaining('Quiet hours are over')]);
  });

  it('a source disabled for a week piles up no digests; enabled again, its next digest covers its usual day', async () => {
    w = await scheduleWorld('feed');
    await w.edit({ schedule: { digestEvery: 'daily', digestAt: 9 * 60, digestWeekday: 0, digestWhenEmpty: true } });
    await w.send('issue.created', 'D1', 'error');
    const disabled = await setSourceEnabled(w.db, w.source, false, w.now());
    for (let day = 11; day <= 17; day++) {
      w.setClock(`2026-01-${day}T09:00:30Z`);
      await w.scheduler.tick();
    }
    expect(await w.digests()).toEqual([]);
    w.setClock('2026-01-17T12:00:00Z');
    await setSourceEnabled(w.db, disabled, true, w.now());
    w.setClock('2026-01-18T09:00:30Z');
    await w.scheduler.tick();
    const made = await w.digests();
    expect(made).toHaveLength(1);
    // Its usual day (from the enabling), not the week: never "covers 7 periods".
    expect(made[0]!.period_start).toBeGreaterThanOrEqual(Date.parse('2026-01-17T09:00:00Z'));
    expect((await w.digestBodies())[0]!.data.description).not.toContain('covers');
  });
});

describe('a digest is claimed before it is drawn (item 2)', () => {
  it('one a stopped maker left unfinished is finished later; one that failed every try is given up, never due again', async () => {
    w = await scheduleWorld('feed');
    await w.edit({ schedule: { quietFrom: 22 * 60, quietTo: 8 * 60 } });
    w.setClock('2026-01-10T23:00:00Z');
    await w.send('issue.created', 'U1', 'warning');
    const route = await w.current();
    // Claimed at 08:00 by a maker that stopped before drawing it (a crash, a deploy)…
    await w.db.run(sql`insert into digests (route_id, kind, period_start, period_end, created_at)
      values (${route.id}, 'quiet', ${Date.parse('2026-01-10T22:00:00Z')}, ${Date.parse('2026-01-11T08:00:00Z')}, ${Date.parse('2026-01-11T08:00:01Z')})`);
    w.setClock('2026-01-11T08:00:30Z');
    await w.scheduler.tick();
    // …it is not made twice, nor finished while its maker may still be at it…
    expect(await w.digestBodies()).toEqual([]);
    w.setClock('2026-01-11T08:02:00Z');
    await w.scheduler.tick();
    // …and a minute on, whoever looks finishes it: what the night held, in one digest.
    expect((await w.digestBodies()).map((b) => b.data.description).join()).toContain('ISS-U1');
    expect(await w.statuses()).toEqual(['digested:1']);

    // A digest whose drawing failed every time (the process died drawing it) is given up, not due again at every start.
    await w.db.run(sql`insert into digests (route_id, kind, period_start, period_end, created_at, attempts)
      values (${route.id}, 'now', 0, 1, ${Date.parse('2026-01-11T08:00:00Z')}, 3)`);
    await w.scheduler.tick();
    const given = await w.db.get<{ done_at: number | null; event_id: string | null }>(
      sql`select done_at, event_id from digests where kind = 'now'`,
    );
    expect({ done: given?.done_at !== null, event: given?.event_id }).toEqual({ done: true, event: null });
  });
});

describe('a held channel past the retention', () => {
  it('its waiting events give up, a bounded step at a time; newer ones and other channels wait on', async () => {
    w = await scheduleWorld('feed');
    const route = await w.current();
    w.setClock('2026-01-01T10:00:00Z');
    await w.send('issue.created', 'OLD1');
    await w.send('issue.created', 'OLD2');
    w.setClock('2026-01-09T10:00:00Z');
    await w.send('issue.created', 'NEW1');
    await holdChannel(
      w.db,
      { channelId: route.channelId, guildId: w.source.guildId, code: 50013, reason: 'Missing Permissions' },
      w.now(),
      w.now() + 600_000,
    );
    // EVENT_RETENTION of 7 days, as the worker's hourly pruning runs it.
    expect(await expireHeld(w.db, w.now() - 7 * 86_400_000, w.now())).toBe(2);
    expect(await w.statuses()).toEqual(['failed:2', 'pending:1']);
    expect((await sourceRow(w.db, w.source.id)).eventsFailed).toBe(2);
  });
});

describe('what the review suspected, settled', () => {
  it('a left-over digest counts what quiet hours held, not what was posted meanwhile', async () => {
    w = await scheduleWorld('feed');
    await w.edit({ schedule: { quietFrom: 22 * 60, quietTo: 8 * 60 } });
    w.setClock('2026-01-10T23:00:00Z');
    await w.send('issue.created', 'HELD1', 'warning');
    w.setClock('2026-01-11T03:00:00Z');
    // Quiet hours changed at night to a window already over: the route no longer holds, HELD1 is left over.
    await w.edit({ schedule: { quietFrom: 23 * 60, quietTo: 2 * 60 } });
    await w.send('issue.created', 'LOUD1', 'warning');
    await w.send('issue.created', 'LOUD2', 'warning');
    w.setClock('2026-01-11T03:00:30Z');
    await w.scheduler.tick();
    const [digest] = await w.digests();
    expect({ kind: digest?.kind, events: digest?.events }).toEqual({ kind: 'leftover', events: 1 });
    const text = (await w.digestBodies()).map((b) => b.data.description).join('\n');
    expect(text).toContain('ISS-HELD1');
    expect(text).not.toContain('ISS-LOUD');
  });

  it('a digest message stays alone when its route moves: never batched with ordinary events', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '1s' } });
    const source = await h.addSource({ secret: null, layout: 'feed' });
    const b = h.guild.channels[1]!.id;
    // The channel waits on Discord (the first send is held) while a digest and events queue behind it.
    let release: () => void = () => {};
    h.discord.inject([{ status: 200, answerAfter: new Promise<void>((resolve) => (release = resolve)) }], source.channelId);
    expect(
      (
        await h.postEvent(
          source,
          'issue',
          payloadOf('issue.created', { event: 'EVA', issue: 'ISS-A', issueId: '61', level: 'error' }) as Record<string, unknown>,
        )
      ).status,
    ).toBe(202);
    await waitFor(() => h!.discord.messagesIn(source.channelId).length === 1, 5000, 'the first send');
    expect(await h.dispatch.digests.makeNow(await route(h, source), source.guildId)).toBe(true);
    for (const n of [1, 2, 3])
      await h.postEvent(
        source,
        'issue',
        payloadOf('issue.created', { event: `EVB${n}`, issue: `ISS-B${n}`, issueId: `7${n}`, level: 'error' }) as Record<string, unknown>,
      );
    await updateRoute(h.dispatch.db, await route(h, source), { channelId: asChannelId(b) }, Date.now());
    release();
    await waitFor(() => h!.discord.messagesIn(b).length >= 2, 10_000, 'the digest and the events in the new channel');
    const digest = h.discord.messagesIn(b).find((m) => JSON.stringify(m.embeds).includes('Digest so far'))!;
    expect(digest.embeds).toHaveLength(1);
  });

  it('what quiet hours hold is counted as waiting by source info, and as dropped when the source is deleted', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '20ms' } });
    const source = await h.addSource({ secret: null, layout: 'feed', name: 'nightly' });
    await updateRoute(h.dispatch.db, await route(h, source), quietNow(), Date.now());
    for (const n of [1, 2, 3])
      await h.postEvent(
        source,
        'issue',
        payloadOf('issue.created', { event: `EVQ${n}`, issue: `ISS-Q${n}`, issueId: `8${n}`, level: 'warning' }) as Record<string, unknown>,
      );
    const quiet = await h.dispatch.db.all(sql`select seq from deliveries where status = 'quiet'`);
    expect(quiet).toHaveLength(3);
    const info = shownText(await answerOf(h.discord, slash(admin(h.guild), 'info', [str('source', 'nightly')])));
    expect(info).toMatch(/waiting\D{0,40}3/i);
    expect(await deleteSource(h.dispatch.db, source, Date.now())).toBe(3);
  });
});
