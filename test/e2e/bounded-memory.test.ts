import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { acceptEvents, type IncomingEvent } from '../../src/db/events.js';
import { updateRoute } from '../../src/db/routes.js';
import { asCardKey } from '../../src/ids.js';
import { peakRssMb, productionArgs, startChild, type ChildDispatch } from '../support/child.js';
import { openTestDatabase, preparedDatabase } from '../support/harness.js';
import { loadFixture } from '../support/sentry.js';

/**
 * Issue 28 item 2: a digest over 2,000 stored events of 30 KB each ran `npm start`'s process (its
 * heap is 128 MB) out of memory, and since its claim was written after it was drawn, every start
 * died the same way. Dispatch is started here as `npm start` starts it, its digest due at once over
 * such a day: the digest is posted, and the process's peak resident memory stays within 150 MB.
 */
const EVENTS = 2000;
const BODY_BYTES = 30 * 1024;
const PEAK_RSS_LIMIT_MB = 150;

/** A real error.created grown to `bytes` with stack frames, as a busy service's errors are. */
function errorBody(i: number, template: Record<string, any>, bytes: number): string {
  const data = structuredClone(template);
  const error = data.data.error;
  error.issue_id = String(5000 + (i % 300));
  error.title = `KeyError: 'payment_intent_id' (${i})`;
  const frame = (k: number) => ({
    filename: `services/billing/handlers/module_${k}.py`,
    function: `process_step_${k}`,
    lineno: 100 + k,
    in_app: true,
    context_line: `    result = handler_${k}(payload, session=session)  # event ${i}`,
    pre_context: Array.from({ length: 5 }, (_, n) => `    line_${n} = compute_value_${n}(payload["field_${n}"], strict=True)`),
  });
  const frames = [];
  let text = '';
  while (text.length < bytes) {
    frames.push(frame(frames.length));
    error.exception.values[0].stacktrace.frames = frames;
    text = JSON.stringify(data);
  }
  return text;
}

let child: ChildDispatch | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterAll(async () => {
  child?.process.kill('SIGKILL');
  await child?.exited;
  await cleanup?.();
});

/** Kills the child (if it still runs) and waits for its end. */
async function killChild(): Promise<void> {
  child?.process.kill('SIGKILL');
  await child?.exited;
  child = undefined;
}

/** How the child ended, once it does: its signal and the heap line it printed, if any. */
function endOf(running: ChildDispatch): Promise<string> {
  let stderr = '';
  running.process.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  return new Promise((resolve) =>
    running.process.once('exit', (code, signal) =>
      resolve(`exited (code ${code}, signal ${signal}) ${stderr.split('\n').find((l) => /heap|memory/i.test(l)) ?? ''}`),
    ),
  );
}

describe('a digest over a day of large events, as npm start runs Dispatch', () => {
  it(`is posted, and the process stays under ${PEAK_RSS_LIMIT_MB} MB`, async () => {
    const prepared = await preparedDatabase({ secret: null, layout: 'feed' });
    cleanup = prepared.cleanup;
    const { source } = prepared;
    const now = Date.now();
    const db = await openTestDatabase(prepared.path, {});
    try {
      // A daily digest due a minute ago: the scheduler makes it when Dispatch starts.
      const due = new Date(now - 60_000);
      const since = now - 3 * 86_400_000;
      await updateRoute(
        db,
        source.route,
        { schedule: { digestEvery: 'daily', digestAt: due.getUTCHours() * 60 + due.getUTCMinutes(), digestWeekday: 0 } },
        since,
      );
      const template = loadFixture('error.created.json') as Record<string, any>;
      for (let start = 0; start < EVENTS; start += 100) {
        const inputs: IncomingEvent[] = [];
        for (let i = start; i < start + 100; i++) {
          const text = errorBody(i, template, BODY_BYTES);
          inputs.push({
            sourceId: source.id,
            eventType: 'error.created',
            level: 'error',
            body: Buffer.from(text),
            text,
            routes: [{ id: source.route.id }],
            filteredBy: [],
            cardKey: asCardKey(`issue:${5000 + (i % 300)}`),
          });
        }
        // The day before the digest, and already posted: only the digest is left to send.
        await acceptEvents(db, inputs, now - 86_400_000 + 60_000 + start * 30_000, 0);
      }
      await db.run(sql`update deliveries set status = 'delivered', delivered_at = ${now} where status = 'pending'`);
      const stored = await db.get<{ n: number; bytes: number }>(sql`select count(*) as n, sum(octet_length(body)) as bytes from events`);
      expect(Number(stored!.n)).toBe(EVENTS);
      expect(Number(stored!.bytes)).toBeGreaterThan(EVENTS * BODY_BYTES);
    } finally {
      await db.close();
    }

    child = await startChild(prepared.env({ LOG_LEVEL: 'info' }), productionArgs());
    const digest = await prepared.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('Daily digest'), 60_000);
    expect(digest.channel_id).toBe(source.channelId);
    const text = JSON.stringify(digest.embeds);
    // Every event counted; the busiest issues listed, with their counts.
    expect(text).toContain(`${EVENTS} events`);
    expect(text).toContain('Still open, most events');
    expect(text).toMatch(/\(7 events\)/);
    const peak = peakRssMb(child.process.pid!);
    console.log(`digest over ${EVENTS} events of ${BODY_BYTES / 1024} KB: peak RSS ${peak.toFixed(1)} MB`);
    expect(peak).toBeLessThanOrEqual(PEAK_RSS_LIMIT_MB);
    expect(child.process.exitCode).toBeNull();
    // Stopped here, not left to afterAll (which sees only the last child): a Dispatch left running
    // outlived the run and reconnected to whatever took its Discord's port (seen after a CI run).
    await killChild();
    await cleanup?.();
    cleanup = undefined;
  }, 180_000);
});

/**
 * A flood summary counts up to 2,000 waiting events and is drawn from their rows, not their bodies.
 * Sent again — after a transient failure (the outage that made the flood), or after a restart left
 * it being sent — it was read with every body of its batch (`jobsInBatch`): 5,000 × 30 KB ran npm
 * start's heap out, and every start did it again. It is drawn again from its rows alone.
 */
describe('a flood summary of large events sent again, as npm start runs Dispatch', () => {
  const FLOODED = 5000;

  async function floodedDatabase() {
    const prepared = await preparedDatabase({ secret: null, layout: 'feed' });
    cleanup = prepared.cleanup;
    const template = loadFixture('error.created.json') as Record<string, any>;
    const db = await openTestDatabase(prepared.path, {});
    try {
      for (let start = 0; start < FLOODED; start += 250) {
        const inputs: IncomingEvent[] = [];
        for (let i = start; i < start + 250; i++) {
          const text = errorBody(i, template, BODY_BYTES);
          const { source } = prepared;
          inputs.push({
            sourceId: source.id,
            eventType: 'error.created',
            level: 'error',
            body: Buffer.from(text),
            text,
            routes: [{ id: source.route.id }],
            filteredBy: [],
          });
        }
        await acceptEvents(db, inputs, Date.now() - 120_000, 0);
      }
    } finally {
      await db.close();
    }
    return prepared;
  }

  const flooding = { FLOOD_THRESHOLD: '100', FLOOD_AFTER: '1s', RETRY_SCHEDULE: '1s' };
  const isSummary = (m: { embeds: unknown[] }) => JSON.stringify(m.embeds).includes('flood summary');

  it('after a 503: posted again, and the process lives', async () => {
    const prepared = await floodedDatabase();
    prepared.discord.inject([{ status: 503 }], prepared.source.channelId);
    child = await startChild(prepared.env(flooding), productionArgs());
    const outcome = await Promise.race([prepared.discord.waitForMessage(isSummary, 120_000).then(() => 'posted'), endOf(child)]);
    expect(outcome).toBe('posted');
    expect(
      prepared.discord
        .messageRequests(prepared.source.channelId)
        .map((r) => r.status)
        .slice(0, 2),
    ).toEqual([503, 200]);
    // The heap stays far from npm start's 128 MB (it ran out before); the process's peak is logged, not asserted:
    // the first summary's planning peaks at 140-180 MB of RSS here, most of it outside the JavaScript heap.
    console.log(
      `flood summary of ${FLOODED} events of ${BODY_BYTES / 1024} KB sent again after a 503: peak RSS ${peakRssMb(child.process.pid!).toFixed(1)} MB`,
    );
    expect(child.process.exitCode).toBeNull();
    await killChild();
    await cleanup?.();
    cleanup = undefined;
  }, 240_000);

  it('left being sent by a process that was killed: the next start posts it under its nonce', async () => {
    const prepared = await floodedDatabase();
    // Discord never answers the summary: the process is killed while it is being sent.
    prepared.discord.inject([{ status: 200, hang: true }], prepared.source.channelId);
    child = await startChild(prepared.env(flooding), productionArgs());
    const deadline = Date.now() + 120_000;
    while (prepared.discord.messageRequests(prepared.source.channelId).length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await killChild();
    child = await startChild(prepared.env(flooding), productionArgs());
    const outcome = await Promise.race([prepared.discord.waitForMessage(isSummary, 120_000).then(() => 'posted'), endOf(child)]);
    expect(outcome).toBe('posted');
    const [first, again] = prepared.discord.messageRequests(prepared.source.channelId) as { body: { nonce?: string } }[];
    expect(again!.body.nonce).toBe(first!.body.nonce);
    expect(child.process.exitCode).toBeNull();
    await killChild();
  }, 240_000);
});
