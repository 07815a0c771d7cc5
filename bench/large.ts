import BetterSqlite3 from 'better-sqlite3';
import type { Database } from '../src/db/database.js';
import { createRoute, updateRoute } from '../src/db/routes.js';
import { createSource } from '../src/db/sources.js';
import { asChannelId, asGuildId, type ChannelId, type SourceId } from '../src/ids.js';
import { sampleIssueCreated } from '../src/sentry/samples.js';
import type { LoopbackDiscord } from './loopback-discord.js';
import { addDeliveries, holdChannel, seedRows } from './seed-rows.js';

/**
 * Section 14: the big operations on a database the size a busy week makes, each while a stream of
 * 20 signed webhooks a second arrives. Issue 33 measured the interactions past Discord's 3 s and
 * everything else held meanwhile; this measures, inside Dispatch's process, the longest event-loop
 * stall (its /metrics: prom-client's monitorEventLoopDelay maximum, reset at each scrape) and the
 * webhooks' acknowledgement times, from the operation's start until its work is done (a delete's
 * purge in the background included).
 *
 *   big      `EVENTS` issue events posted on two routes (main, archive): 2 × EVENTS deliveries;
 *            main has a daily digest, due when Dispatch starts
 *   backlog  `WAITING` deliveries waiting on a channel on hold
 */
export const EVENTS = Number(process.env.BENCH_LARGE_EVENTS ?? 300_000);
export const WAITING = Number(process.env.BENCH_LARGE_WAITING ?? 100_000);
const STREAM_EVERY_MS = 50;
const MIN_STREAM_MS = 3000;

/** An issue.created body of about 2.5 KB (a real one's size), its issue id `__ISSUE__`. */
function template(): string {
  const sample = sampleIssueCreated(Date.now()) as { data: { issue: Record<string, unknown> } };
  const frames = Array.from({ length: 30 }, (_, i) => `  at handler_${i} (services/billing/module_${i}.py:${100 + i})`).join('\n');
  const issue = { ...sample.data.issue, id: '__ISSUE__', level: 'error', title: 'KeyError: payment_intent_id', culprit: frames };
  return JSON.stringify({ ...sample, data: { ...sample.data, issue } });
}

export interface LargeWorld {
  big: SourceId;
  archiveRouteId: number;
  backlog: SourceId;
}

/** Seeds both sources beside the bench's own (whose channel is the loopback Discord's). */
export async function seedLarge(db: Database, discord: LoopbackDiscord): Promise<LargeWorld> {
  const now = Date.now();
  const guildId = asGuildId(discord.guildId);
  const make = (name: string, channelId: ChannelId) =>
    createSource(db, { guildId, channelId, layout: 'feed', name, signingSecret: null, createdBy: '1' }, now);
  const big = await make('big', asChannelId(discord.channelId));
  const archive = await createRoute(
    db,
    {
      sourceId: big.source.id,
      name: 'archive',
      channelId: asChannelId(discord.otherChannelIds[0]),
      layout: 'feed',
      filter: '{}',
      pingRoleId: null,
      pingLevel: 'error',
      createdBy: '1',
    },
    now,
  );
  const body = template();
  await seedRows(db, {
    sourceId: big.source.id,
    routeId: big.route.id,
    channelId: big.route.channelId,
    count: EVENTS,
    template: body,
    eventType: 'issue.created',
  });
  await addDeliveries(db, { sourceId: big.source.id, routeId: archive.id, channelId: archive.channelId });
  // A daily digest due a minute ago: the scheduler makes it when Dispatch starts.
  const due = new Date(now - 60_000);
  await updateRoute(
    db,
    big.route,
    { schedule: { digestEvery: 'daily', digestAt: due.getUTCHours() * 60 + due.getUTCMinutes(), digestWeekday: 0 } },
    now - 3 * 86_400_000,
  );
  const backlog = await make('backlog', asChannelId(discord.otherChannelIds[1]));
  await seedRows(db, {
    sourceId: backlog.source.id,
    routeId: backlog.route.id,
    channelId: backlog.route.channelId,
    count: WAITING,
    status: 'pending',
    template: body,
    eventType: 'issue.created',
  });
  await holdChannel(db, backlog.route.channelId, discord.guildId);
  return { big: big.source.id, archiveRouteId: archive.id, backlog: backlog.source.id };
}

export interface Measured {
  name: string;
  /** Until the bot's first answer (its callback), and until the answer itself; undefined for what no member asked. */
  ackMs?: number;
  answeredMs?: number;
  /** From its start until its work was done. */
  totalMs: number;
  /** The longest event-loop stall inside Dispatch meanwhile. */
  stallMs: number;
  webhooks: number;
  ackP99: number;
  ackMax: number;
  failed: number;
}

/** The longest event-loop delay since the last scrape, from Dispatch's own /metrics (prom-client resets it at each scrape). */
async function lagMaxMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('dispatch_nodejs_eventloop_lag_max_seconds '));
  return line ? Number(line.split(' ')[1]) * 1000 : Number.NaN;
}

/** Runs `op` while `post` sends a webhook every 50 ms; `op` resolves once its work is done. */
async function measure(
  name: string,
  url: string,
  post: () => Promise<number>,
  op: () => Promise<{ ackMs?: number; answeredMs?: number } | void>,
  { sinceStart = false } = {},
): Promise<Measured> {
  // Each scrape resets the maximum; the first operation's counts from the process's start.
  if (!sinceStart) await lagMaxMs(url);
  const acks: number[] = [];
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const sent = performance.now();
    const request: Promise<void> = post().then(
      (status) => {
        if (status !== 202) failed += 1;
        acks.push(performance.now() - sent);
      },
      () => void (failed += 1),
    );
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  }, STREAM_EVERY_MS);
  const started = performance.now();
  const answer = (await within(op(), 240_000, name)) ?? {};
  const totalMs = performance.now() - started;
  // A quick operation's figures still stand on a few dozen webhooks: the stream runs 3 s at least.
  await new Promise((r) => setTimeout(r, Math.max(0, MIN_STREAM_MS - totalMs)));
  clearInterval(timer);
  await Promise.all(inFlight);
  const stallMs = await lagMaxMs(url);
  const sorted = acks.sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return { name, ...answer, totalMs, stallMs, webhooks: sorted.length, ackP99: at(0.99), ackMax: at(1), failed };
}

/** `work`, or an error naming `what` once `ms` have passed. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Polls the database file (read-only, beside Dispatch) until `query` counts nothing. */
async function until(databasePath: string, query: string, timeoutMs = 180_000): Promise<void> {
  const reader = new BetterSqlite3(databasePath, { readonly: true });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Number((reader.prepare(query).get() as { n: number }).n) > 0) {
      if (Date.now() > deadline) throw new Error(`still not done after ${timeoutMs} ms: ${query}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    reader.close();
  }
}

/** A question answered with a confirm button, then the click on the button labelled `label`. */
async function confirmed(discord: LoopbackDiscord, ask: Parameters<LoopbackDiscord['interact']>[0], label: string) {
  const question = await discord.interact(ask);
  const button = question.answer.components?.flatMap((row) => row.components).find((c) => c.label.startsWith(label));
  if (!button) throw new Error(`no ${label} button in ${JSON.stringify(question.answer).slice(0, 300)}`);
  return discord.interact({ button: button.custom_id });
}

/** Every operation in turn, after the start's scheduled digest; each measured on its own. */
export async function largeOperations(options: {
  url: string;
  discord: LoopbackDiscord;
  databasePath: string;
  world: LargeWorld;
  post: () => Promise<number>;
}): Promise<Measured[]> {
  const { url, discord, databasePath, world, post } = options;
  const run = (name: string, op: () => Promise<{ ackMs?: number; answeredMs?: number } | void>) => measure(name, url, post, op);
  const results: Measured[] = [];
  results.push(
    await measure(
      'start, and the daily digest due then',
      url,
      post,
      () => until(databasePath, `select count(*) = 0 as n from digests where kind = 'scheduled' and done_at is not null`),
      { sinceStart: true },
    ),
  );
  results.push(
    await run('route digest (preview)', () =>
      discord.interact({ group: 'route', sub: 'digest', options: { source: 'big', route: 'main' } }),
    ),
  );
  results.push(
    await run('route digest post:true', () =>
      discord.interact({ group: 'route', sub: 'digest', options: { source: 'big', route: 'main', post: true } }),
    ),
  );
  results.push(
    await run(`route remove (${EVENTS.toLocaleString('en')} deliveries, purge included)`, async () => {
      const answer = await confirmed(discord, { group: 'route', sub: 'remove', options: { source: 'big', route: 'archive' } }, 'Remove');
      await until(databasePath, `select count(*) as n from routes where id = ${world.archiveRouteId}`);
      return answer;
    }),
  );
  results.push(
    await run(`source disable (${WAITING.toLocaleString('en')} waiting)`, () =>
      discord.interact({ group: 'source', sub: 'disable', options: { source: 'backlog' } }),
    ),
  );
  results.push(await run('source enable', () => discord.interact({ group: 'source', sub: 'enable', options: { source: 'backlog' } })));
  results.push(
    await run(`source retry (held channel, ${WAITING.toLocaleString('en')} waiting, until all are posted)`, async () => {
      const answer = await discord.interact({ group: 'source', sub: 'retry', options: { source: 'backlog' } });
      await until(
        databasePath,
        `select count(*) as n from deliveries where status in ('pending', 'sending') and route_id in (select id from routes where source_id = ${world.backlog})`,
      );
      return answer;
    }),
  );
  results.push(
    await run(`source delete (${EVENTS.toLocaleString('en')} events, purge included)`, async () => {
      const answer = await confirmed(discord, { group: 'source', sub: 'delete', options: { source: 'big' } }, 'Delete');
      await until(databasePath, `select count(*) as n from sources where id = ${world.big}`);
      return answer;
    }),
  );
  return results;
}
