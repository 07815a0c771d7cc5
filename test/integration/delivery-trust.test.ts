import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { allDeliveries, deliveriesOf, eventsOf, refuseWrites, sourceRow, storeEvent } from '../support/db.js';
import { PERMISSIONS } from '../support/fake-discord.js';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, shownText, slash, str } from '../support/interactions.js';
import { loadFixture, sentryRequest, serializeLikeSentry } from '../support/sentry.js';
import { sign } from '../../src/sentry/verify.js';
import { setTemplate } from '../../src/db/templates.js';
import { SimClock } from '../simulation/sim-clock.js';

const base = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const issue = (shortId: string, extra: Record<string, unknown> = {}) => ({
  ...base,
  data: { issue: { ...base.data.issue, shortId, ...extra } },
});
const shortIds = (h: Harness, channelId: string) =>
  h.discord
    .messagesIn(channelId)
    .flatMap((m) => m.embeds.map((e) => /· ([A-Z0-9-]+)$/.exec((e as { author?: { name: string } }).author?.name ?? '')?.[1]));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A clock the test moves: the worker decides by it, so minutes pass in milliseconds. */
function testClock(start = Date.now()) {
  const clock = { now: start };
  return { clock, now: () => clock.now };
}

/** Moves the clock in steps, letting the worker act at each one. */
async function advance(harness: Harness, clock: { now: number }, totalMs: number, stepMs: number, until?: () => boolean) {
  for (let passed = 0; passed < totalMs; passed += stepMs) {
    clock.now += stepMs;
    harness.dispatch.worker.kick();
    await settled(harness);
    if (until?.()) return;
  }
}

/**
 * Until the worker has done what the clock's step made due: no pass running or about to, no send
 * in flight. A fixed real wait per step let the clock run ahead of a loaded machine (96 probes in
 * 10 simulated minutes where 100 were due).
 */
async function settled(harness: Harness): Promise<void> {
  const deadline = Date.now() + 5_000;
  const idle = () => {
    const { running, scheduled, inFlight } = harness.dispatch.worker.activity();
    return !running && !scheduled && inFlight === 0;
  };
  await new Promise((r) => setImmediate(r));
  while (!idle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
}

describe('isolation', () => {
  it('a corrupt stored event and a body with a byte-order mark stop nothing: every channel keeps delivering', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '20ms' } });
    const broken = await h.addSource({ secret: 'bom' });
    const healthy = await h.addSource({ channelId: h.guild.channels[1]!.id });
    await storeEvent(h.dispatch.db, {
      sourceId: broken.id,
      route: broken.route,
      eventType: 'issue.created',
      text: '{"action": "created", "data": {',
    });
    const bomBody = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(serializeLikeSentry(issue('BOM-1')))]);
    const bom = await h.post(broken.slug, {
      body: bomBody,
      headers: { 'content-type': 'application/json', 'sentry-hook-resource': 'issue', 'sentry-hook-signature': sign(bomBody, 'bom') },
    });
    expect(bom.status).toBe(202);
    for (const id of ['OK-1', 'OK-2']) expect((await h.postEvent(healthy, 'issue', issue(id))).status).toBe(202);

    await h.discord.waitForMessages(2, healthy.channelId);
    expect(shortIds(h, healthy.channelId)).toEqual(['OK-1', 'OK-2']);
    const [corrupt, withBom] = await h.discord.waitForMessages(2, broken.channelId).then((m) => m.flatMap((x) => x.embeds));
    expect(corrupt).toMatchObject({ title: 'issue.created', description: expect.stringContaining('could not be read') });
    expect((withBom as { author?: { name: string } }).author?.name).toBe('New issue · BOM-1');
    // Stored exactly as signed: the byte-order mark is part of the text.
    const stored = (await eventsOf(h.dispatch.db, broken.id)).find((e) => e.body.includes('BOM-1'))!;
    expect(stored.body.charCodeAt(0)).toBe(0xfeff);
    await expect.poll(async () => (await allDeliveries(h!.dispatch.db)).every((e) => e.status === 'delivered')).toBe(true);
  });

  it("one request's failure in a group commit is its own: the others in the same transaction get 202", async () => {
    h = await startHarness();
    const doomed = await h.addSource({ secret: null });
    const fine = await h.addSource({ secret: null });
    await refuseWrites(h.dispatch.db, {
      name: 'refuse_doomed',
      table: 'events',
      on: 'insert',
      when: `new.source_id = ${doomed.id}`,
      message: 'refused by test',
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h!.postEvent(i % 4 === 0 ? doomed : fine, 'issue', issue(`GROUP-${i}`)).then((r) => [i % 4 === 0, r.status] as const),
      ),
    );
    expect(answers.filter(([isDoomed]) => !isDoomed).every(([, status]) => status === 202)).toBe(true);
    expect(answers.filter(([isDoomed]) => isDoomed).every(([, status]) => status === 500)).toBe(true);
    expect((await eventsOf(h.dispatch.db, fine.id)).length).toBe(15);
  });
});

describe('recovery after Discord fails', () => {
  it('ten 500s in a row, then Discord answers: every waiting channel is delivered within 5 s of its first good answer', async () => {
    const { clock, now } = testClock();
    h = await startHarness({ start: { now }, env: { TIMESTAMP_TOLERANCE: '1000d' } });
    const channels = h.guild.channels.slice(0, 2).map((c) => c.id);
    const sources = [await h.addSource({ channelId: channels[0] }), await h.addSource({ channelId: channels[1] })];
    h.discord.inject(Array(10).fill({ status: 500, body: { message: 'Internal Server Error', code: 0 } }));
    for (const [i, source] of sources.entries()) await h.postEvent(source, 'issue', issue(`BLIP-${i}`));
    const failures = () => h!.discord.messageRequests().filter((r) => r.status === 500).length;
    await advance(h, clock, 10 * 60_000, 250, () => failures() === 10);
    expect(failures()).toBe(10);
    const recoveredAt = clock.now; // Discord answers normally from here on
    await advance(h, clock, 60_000, 250, () => h!.discord.messages.length === 2);
    expect(h.discord.messages).toHaveLength(2);
    expect(clock.now - recoveredAt).toBeLessThanOrEqual(5000);
  });

  it('during a 10-minute outage the bot probes about once a second at most, and never stops trying', async () => {
    const { clock, now } = testClock();
    h = await startHarness({ start: { now }, env: { TIMESTAMP_TOLERANCE: '1000d', RETRY_SCHEDULE: '1s,2s,5s,10s,30s,60s' } });
    const sources = await Promise.all(h.guild.channels.slice(0, 2).map((c) => h!.addSource({ channelId: c.id })));
    h.discord.inject(Array(5000).fill({ status: 503, body: { message: 'Service Unavailable', code: 0 } }));
    for (const [i, source] of sources.entries()) for (let n = 0; n < 3; n++) await h.postEvent(source, 'issue', issue(`DOWN-${i}-${n}`));
    const started = clock.now;
    await advance(h, clock, 10 * 60_000, 500);
    const sent = h.discord.messageRequests().length;
    expect(sent).toBeLessThanOrEqual((clock.now - started) / 1000 + 2);
    expect(sent).toBeGreaterThanOrEqual(100); // still probing every few seconds to the end
    expect(h.discord.messages).toHaveLength(0);
    const health = (await (await fetch(`${h.dispatch.url}/healthz`)).json()) as { status: string; delivery: { state: string } };
    expect(health).toMatchObject({ status: 'degraded', delivery: { state: 'discord failing: probing' } });
    console.log(`outage: ${sent} requests in ${(clock.now - started) / 60_000} simulated minutes`);
  });
});

describe('holds', () => {
  it('50013 holds the channel; after the permission is fixed, /dispatch source retry posts every event exactly once', async () => {
    h = await startHarness();
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const source = await h.addSource({ name: 'held' });
    const channel = h.guild.channels[0]!;
    channel.deny = PERMISSIONS.SendMessages; // Discord answers 50013 from now on (the gateway is not told)
    for (const id of ['HOLD-1', 'HOLD-2', 'HOLD-3']) expect((await h.postEvent(source, 'issue', issue(id))).status).toBe(202);
    await expect.poll(async () => (await sourceRow(h!.dispatch.db, source.id)).lastError).toContain('50013');
    await new Promise((r) => setTimeout(r, 300));
    expect(h.discord.messageRequests(channel.id)).toHaveLength(1);
    const alice = admin(h.guild);
    const info = shownText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'held')])));
    expect(info).toMatch(/on hold since <t:\d+:R>: .*50013.*; 3 events waiting/);

    channel.deny = undefined; // fixed, but Discord tells nobody: the member runs retry
    const retried = await answerOf(h.discord, slash(alice, 'retry', [str('source', 'held')]));
    expect(shownText(retried)).toContain('Trying **held** again now: 3 waiting events');
    await h.discord.waitForMessages(3, channel.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(shortIds(h, channel.id).sort()).toEqual(['HOLD-1', 'HOLD-2', 'HOLD-3']);
    expect((await sourceRow(h.dispatch.db, source.id)).eventsDelivered).toBe(3);
    expect(shownText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'held')])))).toContain('✅ enabled');
  });

  it('a held channel is probed again soon after a channel change in its server, and every 10 minutes', async () => {
    const { clock, now } = testClock();
    h = await startHarness({ start: { now }, env: { TIMESTAMP_TOLERANCE: '1000d' } });
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const [first, second] = [h.guild.channels[0]!, h.guild.channels[1]!];
    const sources = [await h.addSource({ channelId: first.id }), await h.addSource({ channelId: second.id })];
    first.deny = PERMISSIONS.SendMessages;
    second.deny = PERMISSIONS.ViewChannel;
    await h.postEvent(sources[0]!, 'issue', issue('PROBE-1'));
    await h.postEvent(sources[1]!, 'issue', issue('PROBE-2'));
    await expect.poll(() => h!.discord.messageRequests().length).toBe(2);

    h.discord.updateChannel(first.id, undefined); // the gateway says the channel changed
    await advance(h, clock, 5000, 250, () => h!.discord.messagesIn(first.id).length === 1);
    expect(shortIds(h, first.id)).toEqual(['PROBE-1']);

    // The change probed every held channel of that server: the second one is still refused (50001).
    await expect.poll(() => h!.discord.messageRequests(second.id).map((r) => r.status)).toEqual([403, 403]);
    second.deny = undefined; // fixed silently: found by the 10-minute probe
    await advance(h, clock, 9 * 60_000, 10_000);
    expect(h.discord.messagesIn(second.id)).toHaveLength(0);
    expect(h.discord.messageRequests(second.id)).toHaveLength(2);
    await advance(h, clock, 2 * 60_000, 10_000, () => h!.discord.messagesIn(second.id).length === 1);
    // The probe is due now; under load its send may still be on its way (each step above waits 3 ms).
    await expect
      .poll(() => {
        h!.dispatch.worker.kick();
        return shortIds(h!, second.id);
      })
      .toEqual(['PROBE-2']);
  });

  it('retry queues failed events again, and each is posted once', async () => {
    h = await startHarness({ env: { RETRY_SCHEDULE: '10ms', DELIVERY_DEADLINE: '100ms' } });
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const source = await h.addSource({ name: 'flaky' });
    // Discord fails until the delivery has failed for good, then works: however many attempts a slow
    // machine fits into the deadline, none of the failures is left over for the retried send.
    h.discord.inject(Array(1000).fill({ status: 502 }));
    await h.postEvent(source, 'issue', issue('LATE-1'));
    await expect.poll(async () => (await deliveriesOf(h!.dispatch.db, source.id))[0]?.status).toBe('failed');
    h.discord.clearInjected();
    const retried = await answerOf(h.discord, slash(admin(h.guild), 'retry', [str('source', 'flaky')]));
    expect(shownText(retried)).toContain('1 failed event queued again');
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('LATE-1'));
    await new Promise((r) => setTimeout(r, 300));
    expect(shortIds(h, source.channelId)).toEqual(['LATE-1']);
    expect(await sourceRow(h.dispatch.db, source.id)).toMatchObject({ eventsFailed: 0, eventsDelivered: 1 });
  });
});

describe('a message Discord refuses', () => {
  it('a templated event Discord refuses (50035) goes out with the built-in embed, and the template failure is recorded', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    await setTemplate(
      h.dispatch.db,
      {
        sourceId: source.id,
        routeId: null,
        eventPattern: 'issue.*',
        body: JSON.stringify({ embed: { title: 'tpl {{ payload.data.issue.shortId }}' } }),
        updatedBy: '1',
      },
      Date.now(),
    );
    h.discord.inject([{ status: 400, body: { code: 50035, message: 'Invalid Form Body' } }], source.channelId);
    await h.postEvent(source, 'issue', issue('TPL-REFUSED'));
    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect((message.embeds[0] as { author?: { name: string } }).author?.name).toBe('New issue · TPL-REFUSED');
    expect((await sourceRow(h.dispatch.db, source.id)).lastTemplateError).toMatch(
      /^template issue\.\* failed \(refused by Discord\): Discord 50035/,
    );
  });

  it('flood summaries of many types with long titles stay within every limit: no 50035, every event shown or counted', async () => {
    h = await startHarness({ env: { FLOOD_THRESHOLD: '50', FLOOD_AFTER: '200ms', BATCH_LINGER: '20ms' } });
    const source = await h.addSource({ secret: null });
    const types = [
      'created',
      'resolved',
      'assigned',
      'ignored',
      'archived',
      'unresolved',
      'deleted',
      'reopened',
      'escalated',
      'merged',
      'muted',
      'noticed',
    ];
    h.discord.inject(Array(3).fill({ status: 503, body: { message: 'down' } }), source.channelId);
    const sends: Promise<Response>[] = [];
    for (let i = 0; i < 400; i++) {
      const action = types[i % types.length]!;
      const payload = { ...issue(`F-${i}`, { title: `${'T'.repeat(235)} ${i}` }), action };
      sends.push(h.postEvent(source, 'issue', payload));
    }
    expect((await Promise.all(sends)).every((r) => r.status === 202)).toBe(true);
    await expect
      .poll(async () => (await allDeliveries(h!.dispatch.db)).filter((e) => e.status === 'pending' || e.status === 'sending').length, {
        timeout: 30_000,
      })
      .toBe(0);
    const refused = h.discord.messageRequests(source.channelId).filter((r) => r.status === 400);
    expect(refused).toEqual([]);
    let individual = 0;
    let counted = 0;
    for (const embed of h.discord.messagesIn(source.channelId).flatMap((m) => m.embeds) as {
      title?: string;
      footer?: { text: string };
    }[]) {
      const match = /^\+(\d+) more /.exec(embed.title ?? '');
      if (match && embed.footer?.text.endsWith('flood summary')) counted += Number(match[1]);
      else individual += 1;
    }
    expect(individual + counted).toBe(400);
    expect(counted).toBeGreaterThan(300);
    expect(h.discord.messagesIn(source.channelId).length).toBeLessThanOrEqual(60);
  });
});

describe('the dedupe window', () => {
  it('the same bytes within DEDUPE_WINDOW are one event; after it they are a new one', async () => {
    const { clock, now } = testClock();
    h = await startHarness({ start: { now }, env: { DEDUPE_WINDOW: '1h', TIMESTAMP_TOLERANCE: '1000d' } });
    const source = await h.addSource();
    const request = sentryRequest('issue', issue('AGAIN-1'), source.signingSecret!);
    const first = (await (await h.post(source.slug, request)).json()) as { event_id: string };
    await h.discord.waitForMessages(1, source.channelId);
    clock.now += 30 * 60_000;
    const within = (await (await h.post(source.slug, request)).json()) as { event_id: string };
    expect(within.event_id).toBe(first.event_id);
    clock.now += 31 * 60_000;
    const after = (await (await h.post(source.slug, request)).json()) as { event_id: string };
    expect(after.event_id).not.toBe(first.event_id);
    await h.discord.waitForMessages(2, source.channelId);
    expect(shortIds(h, source.channelId)).toEqual(['AGAIN-1', 'AGAIN-1']);
    const [old] = await eventsOf(h.dispatch.db, source.id);
    expect(old).toMatchObject({ duplicates: 1, deduped: false });
  });
});

describe('no hot loops', () => {
  it('a database write failing after a send is retried with growing waits, and the message is not sent again', async () => {
    h = await startHarness({ captureLogs: true });
    const source = await h.addSource({ secret: null });
    const fault = await refuseWrites(h.dispatch.db, {
      name: 'refuse_updates',
      table: 'deliveries',
      on: 'update of status',
      when: `new.status = 'delivered'`,
      message: 'disk trouble (test)',
    });
    await h.postEvent(source, 'issue', issue('STUCK-1'));
    await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    await new Promise((r) => setTimeout(r, 4500));
    const attempts = h.logLines.filter((l) => l.includes('could not record a delivery')).length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(4); // 1 s, 2 s, then 5 s apart: not a hot loop
    expect(h.discord.messageRequests(source.channelId)).toHaveLength(1);
    const health = (await (await fetch(`${h.dispatch.url}/healthz`)).json()) as { status: string; delivery: { state: string } };
    expect(health).toMatchObject({ status: 'degraded', delivery: { state: 'cannot record deliveries' } });
    await fault.remove();
    await expect.poll(async () => (await deliveriesOf(h!.dispatch.db, source.id))[0]?.status, { timeout: 10_000 }).toBe('delivered');
    expect(h.discord.messagesIn(source.channelId)).toHaveLength(1);
  });
});

describe('a held channel due for its probe while Discord fails', () => {
  it('waits for the send in flight instead of looking again and again at the same instant until it ends', async () => {
    // The engine's timers on a clock the test moves: a wake-up asked for "now" shows as a timer due at once.
    const clock = new SimClock(Date.now());
    h = await startHarness({ start: { now: clock.now, clock }, env: { TIMESTAMP_TOLERANCE: '1000d' } });
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const [held, failing] = [h.guild.channels[0]!, h.guild.channels[1]!];
    const sources = [await h.addSource({ channelId: held.id }), await h.addSource({ channelId: failing.id })];
    held.deny = PERMISSIONS.SendMessages; // 50013: the channel is put on hold, probed again in 10 minutes
    await h.postEvent(sources[0]!, 'issue', issue('HELD-1'));
    await expect.poll(() => h!.discord.messageRequests(held.id).length).toBe(1);
    // Discord fails in the other channel (an outage begins), and its retry is held in flight.
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    h.discord.inject(
      [
        { status: 500, body: { message: 'Internal Server Error', code: 0 } },
        { status: 200, answerAfter: answered },
      ],
      failing.id,
    );
    await h.postEvent(sources[1]!, 'issue', issue('FAILING-1'));
    await expect.poll(() => h!.discord.messageRequests(failing.id).length).toBe(1);
    for (let waited = 0; h.discord.messageRequests(failing.id).length < 2 && waited < 60_000; waited += 250) {
      clock.step(clock.now() + 250);
      await passesDone(h);
    }
    expect(h.discord.messageRequests(failing.id)).toHaveLength(2);
    // The hold's probe falls due while that send is in flight: the outage gate keeps it shut until the send ends.
    clock.jump(10 * 60_000);
    await passesDone(h);
    let atOnce = 0;
    while (atOnce < 50 && clock.step(clock.now())) {
      atOnce += 1;
      await passesDone(h);
    }
    // Waking for the probe already due spun: a pass every 5 ms for as long as the send took.
    expect(atOnce, 'timers due at the same instant, set by the passes themselves').toBeLessThanOrEqual(3);
    held.deny = undefined;
    answer();
    await expect.poll(() => shortIds(h!, failing.id)).toEqual(['FAILING-1']);
    await expect
      .poll(() => {
        clock.step(clock.now() + 1_000);
        return shortIds(h!, held.id);
      })
      .toEqual(['HELD-1']);
  });
});

/** Until no pass runs or is about to (a send may stay in flight). */
async function passesDone(harness: Harness): Promise<void> {
  const deadline = Date.now() + 5_000;
  const idle = () => {
    const { running, scheduled } = harness.dispatch.worker.activity();
    return !running && !scheduled;
  };
  await new Promise((r) => setImmediate(r));
  while (!idle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
}

describe('/dispatch source log', () => {
  it('lists the last events with what became of each: posted with a link, duplicate, held', async () => {
    h = await startHarness();
    await waitFor(() => h!.dispatch.client.isReady(), 20_000, 'the gateway');
    const source = await h.addSource({ name: 'logged' });
    const request = sentryRequest('issue', issue('LOG-1'), source.signingSecret!);
    await h.post(source.slug, request);
    const posted = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    await h.post(source.slug, request);
    h.guild.channels[0]!.deny = PERMISSIONS.SendMessages;
    await h.postEvent(source, 'issue', issue('LOG-2'));
    await expect.poll(async () => (await sourceRow(h!.dispatch.db, source.id)).lastError).toContain('50013');
    const log = shownText(await answerOf(h.discord, slash(admin(h.guild), 'log', [str('source', 'logged')])));
    expect(log).toContain(`posted [message](https://discord.com/channels/${h.guild.id}/${source.channelId}/${posted.id})`);
    expect(log).toContain('received again 1× (duplicate, not posted again)');
    expect(log).toContain('waiting: its channel is on hold');
    expect(log).toMatch(/On hold.*since <t:\d+:R>/);
    const deliveries = await h.dispatch.db.all(sql`select status from deliveries`);
    expect(deliveries).toHaveLength(2);
  });
});
