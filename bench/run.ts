/**
 * npm run bench — Dispatch's numbers beside a baseline measured in the same run, as ratios and
 * ranges over repeated rounds. Dispatch runs as production does: `npm start`, as users run it (the
 * compiled JavaScript, with its node flags; the bench builds first, so nothing is compiled then).
 *   1. start and idle: time from spawning `npm start` to /healthz 200 and to the gateway being ready; RSS once idle;
 *   2. ingest with delivery running: signed issue.created webhooks, autocannon, 50 connections,
 *      10 s, against Dispatch (delivering to the loopback Discord meanwhile) and against a bare
 *      Express 5 endpoint answering 202 to the same requests, alternating, BENCH_ROUNDS times;
 *      peak RSS under that load;
 *   3. end to end: webhook sent → message posted at the loopback Discord, one at a time;
 *   4. burst drain: 100 events to one channel, the loopback Discord allowing 5 messages per 5 s;
 *   5. live cards: a follow-up webhook about an issue → the edit of its card, with the default
 *      coalescing (a card is edited at most once a second);
 *   6. ingest by storage: SQLite, Postgres with one replica and with two, each as a ratio to the
 *      same round's bare Express (a throwaway Postgres from bench/postgres.ts, commits flushed);
 *   7. a thousand channels: 200 webhooks at 20 a second to one feed source, on an empty database
 *      and beside 1,000 idle sources (2,000 routes, half card and half feed, each with history);
 *   8. layouts: ingest with delivery running on a card route and on a feed route, beside bare Express;
 *   9. start-up beside 1,000 sources and 10,000 open cards: spawn → /healthz, idle RSS;
 *  10. sections 7 and 9 again on Postgres, one replica;
 *  11. restarts: `npm start` → /healthz 200 with dist/ up to date, and after a source file changed
 *      (npm start then builds first);
 *  12. a configuration error: plain `node dist/src/index.js` → its exit, with no DISCORD_TOKEN, and
 *      with four bad variables (a database path among them): what an operator waits for a mistake.
 *  13. Postgres away (one replica): webhooks a second while they go to its spool (10,000, 50
 *      connections), then the drain of those 10,000 into Postgres once it answers again.
 *  14. big operations on a large SQLite database (bench/large.ts): a scheduled and an asked-for
 *      digest, route remove, source disable, enable, retry and delete, each beside 20 webhooks a
 *      second: the longest event-loop stall inside Dispatch and the webhooks' ack p99 meanwhile.
 * BENCH_BUILD=<folder> runs another checkout's build (its dist/) as Dispatch: the figures of two
 * releases side by side, from the same bench.
 * Everything runs on loopback; Dispatch and the baseline run as child processes. The bench
 * stands on its own: it uses Dispatch's code and its own loopback Discord, nothing from test/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { createSource } from '../src/db/sources.js';
import { openSqlite } from '../src/db/sqlite.js';
import { openPostgres } from '../src/db/postgres.js';
import { freshDatabase, startPostgres } from './postgres.js';
import type { Source } from '../src/db/schema.js';
import { sampleIssueCreated } from '../src/sentry/samples.js';
import { sign } from '../src/sentry/verify.js';
import { startLoopbackDiscord, type LoopbackDiscord } from './loopback-discord.js';
import { asChannelId, asGuildId } from '../src/ids.js';
import { seedIdle, type IdleSeed } from './scale.js';
import { EVENTS, largeOperations, seedLarge, WAITING, type LargeWorld } from './large.js';
import type { Database } from '../src/db/database.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Whose build runs as Dispatch: this checkout's, or another's (an earlier release, to compare). */
const BUILD = process.env.BENCH_BUILD ?? ROOT;
const SECRET = 'bench-client-secret';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** How users start Dispatch, so the bench measures what they get: npm and all (in BENCH_BUILD's checkout, its own `npm start`). */
const NPM_START = ['npm', 'start', '--silent'];
const CONNECTIONS = 50;

const template = JSON.stringify({ ...sampleIssueCreated(Date.now()), action: 'created' }).replace('DISPATCH-TEST', 'BENCH-__N__');
let counter = 0;
/** A distinct, correctly signed body per request, so deduplication never short-cuts the work. */
function nextRequest(): { body: string; headers: Record<string, string> } {
  counter += 1;
  const body = template.replace('__N__', String(counter));
  return {
    body,
    headers: { 'content-type': 'application/json', 'sentry-hook-resource': 'issue', 'sentry-hook-signature': sign(body, SECRET) },
  };
}

interface Child {
  url: string;
  process: ChildProcess;
  /** The server's own process (under `npm start`, the node process npm started): what RSS and CPU are read from. */
  pid: number;
  exited: Promise<unknown>;
  /** performance.now() at spawn. */
  started: number;
  /** Resolves with ms from spawn to "Discord gateway ready" (Dispatch only). */
  gateway: Promise<number>;
}

/** The descendant of `pid` running `script` (npm runs the start command through a shell), from /proc. */
function descendantRunning(pid: number, script: string): number | undefined {
  const parents = new Map<number, number>();
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return ''; // the process is gone
    }
  };
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const stat = read(`/proc/${entry}/stat`);
    if (stat) parents.set(Number(entry), Number(stat.split(') ')[1]!.split(' ')[1]));
  }
  const isUnder = (candidate: number): boolean => {
    for (let p = parents.get(candidate); p !== undefined && p > 1; p = parents.get(p)) if (p === pid) return true;
    return false;
  };
  return [...parents.keys()].find((candidate) => isUnder(candidate) && read(`/proc/${candidate}/cmdline`).split('\0').includes(script));
}

/** Starts a server (`command`) and resolves with the URL from its "webhook listener ready" line, and when that came. */
async function startProcess(command: string[], env: Record<string, string>, cwd = ROOT): Promise<Child> {
  const started = performance.now();
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
    cwd,
    env: { PATH: process.env.PATH, LOG_PRETTY: 'false', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let gatewayReady: (() => void) | undefined;
  const gateway = new Promise<number>((resolve) => (gatewayReady = () => resolve(performance.now() - started)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'webhook listener ready') resolve(String(entry.url));
        if (entry.msg === 'Discord gateway ready') gatewayReady?.();
      } catch {
        // not a log line
      }
    });
    void exited.then(() => reject(new Error(`${command.join(' ')} exited before it was ready`)));
  });
  const pid = file === 'npm' ? descendantRunning(child.pid!, 'dist/src/index.js') : child.pid;
  if (pid === undefined) throw new Error(`no Dispatch process under ${command.join(' ')}`);
  return { url, process: child, pid, exited, started, gateway };
}

async function startDispatch(
  discord: LoopbackDiscord,
  env: Record<string, string> = {},
  layout: 'feed' | 'card' = 'feed',
): Promise<{ child: Child; source: Source; cleanup: () => void }> {
  const { children, source, cleanup } = await startReplicas(discord, 1, { env, layout });
  return { child: children[0]!, source, cleanup };
}

/**
 * `count` Dispatch processes sharing one database: a fresh SQLite file (one process only), or with
 * `postgresUrl` (a cluster's admin URL) a fresh Postgres database; one source, made before they start.
 */
async function startReplicas(
  discord: LoopbackDiscord,
  count: number,
  options: {
    env?: Record<string, string>;
    layout?: 'feed' | 'card';
    postgresUrl?: string;
    seed?: Omit<IdleSeed, 'guildId'>;
    /** More made in the database before Dispatch starts. */
    prepare?: (db: Database) => Promise<void>;
  } = {},
): Promise<{ children: Child[]; source: Source; databaseUrl?: string; databasePath: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-bench-'));
  const databasePath = join(dir, 'dispatch.db');
  const databaseUrl = options.postgresUrl ? await freshDatabase(options.postgresUrl) : undefined;
  const db = databaseUrl ? await openPostgres(databaseUrl) : openSqlite(databasePath);
  const { source } = await createSource(
    db,
    {
      guildId: asGuildId(discord.guildId),
      channelId: asChannelId(discord.channelId),
      layout: options.layout ?? 'feed',
      name: 'bench',
      signingSecret: SECRET,
      createdBy: '1',
    },
    Date.now(),
  );
  if (options.seed) await seedIdle(db, { ...options.seed, guildId: discord.guildId });
  await options.prepare?.(db);
  await db.close();
  const env = {
    DISCORD_TOKEN: 'bench-token',
    DISCORD_API_URL: discord.apiUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: databasePath,
    // Replicas on Postgres share one key (required with DATABASE_URL).
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, DISPATCH_ENCRYPTION_KEY: 'c'.repeat(64) } : {}),
    // The production default: every webhook and delivery writes a log line, and that is part of the cost.
    LOG_LEVEL: 'info',
    BATCH_LINGER: '500ms',
    ...options.env,
  };
  const children: Child[] = [];
  for (let i = 0; i < count; i++) children.push(await startProcess(NPM_START, env, BUILD));
  return { children, source, databaseUrl, databasePath, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function stop(child: Child) {
  child.process.kill('SIGTERM');
  await child.exited;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** Peak resident set size of a process, from the kernel (VmHWM). */
function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Load from this process (for DURATION_S, or `amount` requests); the server's own CPU use is read from /proc around the run. */
async function load(url: string, pid: number, connections = CONNECTIONS, amount?: number) {
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    ...(amount ? { amount } : { duration: DURATION_S }),
    requests: [{ setupRequest: (req) => ({ ...req, ...nextRequest() }) }],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
    cpuMsPerRequest: ((cpuSeconds(pid) - cpuBefore) * 1000) / Math.max(1, result.requests.total),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Idle RSS: what the kernel says the process holds, once it has started and settled. */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Until GET /healthz answers 200: how long after spawn. */
async function healthyAfter(child: Child): Promise<number> {
  for (;;) {
    const status = await fetch(`${child.url}/healthz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return performance.now() - child.started;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** One round: a fresh bare Express and a fresh Dispatch (delivering to a loopback Discord), same load. */
async function ingestRound() {
  const bare = await startProcess([process.execPath, 'bench/bare-express.mjs'], {});
  const baseline = await load(`${bare.url}/hooks/bench`, bare.pid);
  await stop(bare);
  const discord = await startLoopbackDiscord();
  const { child, source, cleanup } = await startDispatch(discord);
  const healthz = await healthyAfter(child);
  const gateway = await child.gateway;
  await new Promise((r) => setTimeout(r, 3000)); // settled: the gateway's guild, the first prune
  const idleRss = rssMb(child.pid);
  const dispatch = await load(`${child.url}/hooks/${source.slug}`, child.pid);
  const peakRss = peakRssMb(child.pid);
  const delivered = discord.messages.reduce((n, m) => n + m.embeds, 0);
  await stop(child);
  await discord.stop();
  cleanup();
  return { baseline, dispatch, healthz, gateway, idleRss, peakRss, delivered };
}

async function endToEnd(samples = 200) {
  const discord = await startLoopbackDiscord();
  const { child, source, cleanup } = await startDispatch(discord);
  const latencies: number[] = [];
  // 40 events a second: under discord.js's global cap of 50 requests a second (Discord's own
  // per-bot limit), so this measures Dispatch's latency, not that cap.
  const PACE_MS = 25;
  for (let i = 0; i < samples; i++) {
    const due = performance.now() + PACE_MS;
    const request = nextRequest();
    const marker = `BENCH-${counter}"`;
    const started = performance.now();
    const arrived = discord.waitFor(marker);
    await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    await arrived;
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await stop(child);
  await discord.stop();
  cleanup();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples };
}

async function burst(events = 100) {
  const discord = await startLoopbackDiscord({ rateLimit: { messages: 5, windowMs: 5000 } });
  const { child, source, cleanup } = await startDispatch(discord);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: events }, () => {
      const request = nextRequest();
      return fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    }),
  );
  await discord.waitForEmbeds(events, 60_000);
  const seconds = (performance.now() - started) / 1000;
  const messages = discord.messages.length;
  const rateLimited = discord.rateLimited;
  await stop(child);
  await discord.stop();
  cleanup();
  return { events, messages, seconds, rateLimited };
}

/** A signed webhook about issue `issueId`: created, or assigned to someone whose name marks the edit it causes. */
function issueRequest(issueId: number, action: 'created' | 'assigned', assignee?: string) {
  const payload = JSON.parse(template.replace('__N__', `CARD-${issueId}`)) as { action: string; data: { issue: Record<string, unknown> } };
  payload.action = action;
  payload.data.issue.id = String(900_000 + issueId);
  if (assignee) payload.data.issue.assignedTo = { type: 'user', id: '1', name: assignee };
  const body = JSON.stringify(payload);
  return {
    body,
    headers: { 'content-type': 'application/json', 'sentry-hook-resource': 'issue', 'sentry-hook-signature': sign(body, SECRET) },
  };
}

/**
 * Follow-ups to live cards: `cards` issues get their cards first; then follow-ups go to them at
 * random, 10 a second. Each is timed from its webhook to the first edit of its card that shows it
 * (or a later follow-up: several within a card's coalescing second become one edit, so the
 * earlier ones are shown by that edit). A follow-up to a card edited less than a second before
 * waits for that second: it is part of the figure.
 */
async function cardEdits(cards = 50, followUps = 200) {
  const discord = await startLoopbackDiscord();
  const { child, source, cleanup } = await startDispatch(discord, {}, 'card');
  const url = `${child.url}/hooks/${source.slug}`;
  for (let n = 0; n < cards; n++) {
    await fetch(url, { method: 'POST', ...issueRequest(n, 'created') });
    await discord.waitForEmbeds(n + 1, 10_000);
  }
  await new Promise((r) => setTimeout(r, 1100)); // every card past its first coalescing second
  const sent: { card: number; at: number }[] = [];
  const lastTo = new Map<number, number>();
  for (let k = 0; k < followUps; k++) {
    const card = Math.floor(Math.random() * cards);
    sent.push({ card, at: Date.now() });
    lastTo.set(card, k);
    await fetch(url, { method: 'POST', ...issueRequest(card, 'assigned', `BENCH-ASSIGNEE-${k}`) });
    await new Promise((r) => setTimeout(r, 100));
  }
  // Every card's last follow-up shown: then every follow-up has been.
  for (const k of lastTo.values()) await discord.waitFor(`BENCH-ASSIGNEE-${k}"`);
  const shown = discord.edits.map((edit) => ({
    at: edit.at,
    card: Number(/BENCH-CARD-(\d+) ·/.exec(edit.text)?.[1]),
    upTo: Number(/BENCH-ASSIGNEE-(\d+)"/.exec(edit.text)?.[1]),
  }));
  const latencies = sent.map(({ card, at }, k) => shown.find((e) => e.card === card && e.upTo >= k)!.at - at).sort((a, b) => a - b);
  const result = {
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    max: latencies.at(-1)!,
    followUps,
    edits: discord.edits.length,
    lines: discord.threadMessages.length,
    messages: discord.messages.length,
  };
  await stop(child);
  await discord.stop();
  cleanup();
  return result;
}

/**
 * One round of ingest on each storage, each beside the same round's bare Express: SQLite, Postgres
 * with one replica, Postgres with two (the load balancer's part played by splitting the connections
 * between them). Postgres flushes every commit, as SQLite does.
 */
async function storageRound(postgresUrl: string) {
  const bare = await startProcess([process.execPath, 'bench/bare-express.mjs'], {});
  const baseline = await load(`${bare.url}/hooks/bench`, bare.pid);
  await stop(bare);
  const measure = async (replicas: number, postgres: boolean) => {
    const discord = await startLoopbackDiscord();
    const { children, source, cleanup } = await startReplicas(discord, replicas, postgres ? { postgresUrl } : {});
    await Promise.all(children.map((child) => healthyAfter(child)));
    await new Promise((r) => setTimeout(r, 3000)); // settled: leadership, the gateway, the first prune
    const runs = await Promise.all(children.map((child) => load(`${child.url}/hooks/${source.slug}`, child.pid, CONNECTIONS / replicas)));
    await Promise.all(children.map(stop));
    await discord.stop();
    cleanup();
    return {
      rps: runs.reduce((n, r) => n + r.rps, 0),
      p99: Math.max(...runs.map((r) => r.p99)),
      failed: runs.reduce((n, r) => n + r.non2xx + r.errors, 0),
    };
  };
  return { baseline, sqlite: await measure(1, false), postgres1: await measure(1, true), postgres2: await measure(2, true) };
}

/**
 * Webhooks at a steady 20 a second to one feed source: how long each waits for its 202, and how
 * long until its message is at the loopback Discord.
 */
async function paced(child: Child, source: Source, discord: LoopbackDiscord, samples = 200) {
  const acks: number[] = [];
  const arrivals: Promise<number>[] = [];
  for (let i = 0; i < samples; i++) {
    const due = performance.now() + 50;
    const request = nextRequest();
    const started = performance.now();
    arrivals.push(discord.waitFor(`BENCH-${counter}"`).then(() => performance.now() - started));
    await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    acks.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  const endToEnd = (await Promise.all(arrivals)).sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  return { ackP50: percentile(acks, 50), ackP99: percentile(acks, 99), e2eP50: percentile(endToEnd, 50), e2eP99: percentile(endToEnd, 99) };
}

/**
 * One round of section 13: Postgres away for the replica's pool (its database refuses new
 * connections and its pooled ones are ended; the coordination connection is left, as a pool-only
 * outage would), 10,000 webhooks taken into the spool, then Postgres back: how long from the
 * replica seeing it back (/healthz "database": "ok") to an empty spool.
 */
async function spoolRound(postgresUrl: string, events = 10_000) {
  const discord = await startLoopbackDiscord();
  const { children, source, databaseUrl, cleanup } = await startReplicas(discord, 1, { postgresUrl });
  const child = children[0]!;
  const health = async () => (await (await fetch(`${child.url}/healthz`)).json()) as { database: string; spooled?: number };
  await healthyAfter(child);
  await new Promise((r) => setTimeout(r, 3000)); // settled: leadership, the gateway, the first prune
  const hook = `${child.url}/hooks/${source.slug}`;
  await fetch(hook, { method: 'POST', ...nextRequest() }); // the replica's last good read of the source
  const name = new URL(databaseUrl!).pathname.slice(1);
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`alter database ${name} allow_connections false`);
  await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = 'dispatch'", [name]);
  while ((await health()).database !== 'away') await new Promise((r) => setTimeout(r, 20));
  const spooling = await load(hook, child.pid, CONNECTIONS, events);
  const spooled = (await health()).spooled ?? 0;
  await admin.query(`alter database ${name} allow_connections true`);
  while ((await health()).database !== 'ok') await new Promise((r) => setTimeout(r, 5));
  const back = performance.now();
  while ((await health()).spooled !== 0) await new Promise((r) => setTimeout(r, 5));
  const drainMs = performance.now() - back;
  await admin.end();
  await stop(child);
  await discord.stop();
  cleanup();
  return { spooling, spooled, drainMs };
}

/** One round of section 7 (or 10): the same paced traffic on an empty database and beside 1,000 idle sources. */
async function idleSourcesRound(postgresUrl?: string) {
  const measure = async (seed?: Omit<IdleSeed, 'guildId'>) => {
    const discord = await startLoopbackDiscord();
    const { children, source, cleanup } = await startReplicas(discord, 1, { postgresUrl, seed });
    const child = children[0]!;
    await healthyAfter(child);
    await new Promise((r) => setTimeout(r, 2000)); // settled: the gateway, the first prune
    const result = await paced(child, source, discord);
    await stop(child);
    await discord.stop();
    cleanup();
    return result;
  };
  return { empty: await measure(), idle: await measure({ sources: 1000, cards: 1000 }) };
}

/** One round of section 8: bare Express, then the same ingest to a feed route and to a card route. */
async function layoutRound() {
  const bare = await startProcess([process.execPath, 'bench/bare-express.mjs'], {});
  const baseline = await load(`${bare.url}/hooks/bench`, bare.pid);
  await stop(bare);
  const measure = async (layout: 'feed' | 'card') => {
    const discord = await startLoopbackDiscord();
    const { child, source, cleanup } = await startDispatch(discord, {}, layout);
    await healthyAfter(child);
    await new Promise((r) => setTimeout(r, 2000));
    const result = await load(`${child.url}/hooks/${source.slug}`, child.pid);
    await stop(child);
    await discord.stop();
    cleanup();
    return result;
  };
  return { baseline, feed: await measure('feed'), card: await measure('card') };
}

/** One round of section 9 (or 10): start beside 1,000 sources and 10,000 open cards. */
async function bigStartRound(postgresUrl?: string) {
  const discord = await startLoopbackDiscord();
  const { children, cleanup } = await startReplicas(discord, 1, { postgresUrl, seed: { sources: 1000, cards: 10_000 } });
  const child = children[0]!;
  const healthz = await healthyAfter(child);
  await new Promise((r) => setTimeout(r, 3000)); // settled: the gateway's guild, the first prune, a few passes
  const idleRss = rssMb(child.pid);
  await stop(child);
  await discord.stop();
  cleanup();
  return { healthz, idleRss };
}

/** One start of section 11: `npm start` → /healthz 200; after `touched` (a source file's time set to now: it builds first). */
async function restartRound(touched?: string) {
  if (touched) {
    const now = new Date();
    utimesSync(join(BUILD, touched), now, now);
  }
  const discord = await startLoopbackDiscord();
  const { child, cleanup } = await startDispatch(discord);
  const healthz = await healthyAfter(child);
  await stop(child);
  await discord.stop();
  cleanup();
  return healthz;
}

/** One run of section 12: node on the compiled entry point with only `env`, in an empty folder (no .env), spawn → exit, in ms. */
async function configErrorRound(env: Record<string, string>): Promise<number> {
  const folder = mkdtempSync(join(tmpdir(), 'dispatch-bench-config-'));
  const started = performance.now();
  const child = spawn(process.execPath, [join(BUILD, 'dist/src/index.js')], {
    cwd: folder,
    env: { PATH: process.env.PATH, ...env },
    stdio: 'ignore',
  });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  const ms = performance.now() - started;
  rmSync(folder, { recursive: true, force: true });
  if (code !== 1) throw new Error(`a configuration error exited with ${String(code)}, not 1`);
  return ms;
}

/** Section 14 (bench/large.ts): the big operations on a database the size a busy week makes, beside 20 webhooks a second. */
async function largeRound() {
  const discord = await startLoopbackDiscord();
  let world: LargeWorld | undefined;
  const seeding = performance.now();
  const { children, source, databasePath, cleanup } = await startReplicas(discord, 1, {
    prepare: async (db) => void (world = await seedLarge(db, discord)),
  });
  const seededS = (performance.now() - seeding) / 1000;
  const child = children[0]!;
  try {
    const post = async () => {
      const { body, headers } = nextRequest();
      const res = await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body, headers });
      await res.arrayBuffer();
      return res.status;
    };
    const results = await largeOperations({ url: child.url, discord, databasePath, world: world!, post });
    return { seededS, results, peakRss: peakRssMb(child.pid) };
  } finally {
    await stop(child);
    await discord.stop();
    cleanup();
  }
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

/** BENCH_ONLY=cards,burst runs some sections (ingest, e2e, burst, cards, postgres, idle, layouts, bigstart, scale-postgres, restart, config-error, spool, large); all by default. */
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const wanted = (section: string) => !only || only.includes(section);

console.log(`Dispatch benchmarks — ${new Date().toISOString()}, Node ${process.version}, ${CONNECTIONS} connections × ${DURATION_S} s\n`);
/** `min–max` of a figure over the rounds. */
const range = (values: number[], digits = 1) => {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low.toFixed(digits) === high.toFixed(digits) ? low.toFixed(digits) : `${low.toFixed(digits)}–${high.toFixed(digits)}`;
};

if (wanted('ingest')) {
  const rounds: Awaited<ReturnType<typeof ingestRound>>[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await ingestRound());
  const of = <T>(pick: (round: (typeof rounds)[number]) => T) => rounds.map(pick);
  console.log(`1. Start and idle (${ROUNDS} starts of \`npm start\` with dist/ built)`);
  console.log(
    `   spawn → /healthz 200 : ${range(
      of((x) => x.healthz),
      0,
    )} ms (target ≤ 1000 ms)`,
  );
  console.log(
    `   spawn → gateway ready: ${range(
      of((x) => x.gateway),
      0,
    )} ms`,
  );
  console.log(`   idle RSS             : ${range(of((x) => x.idleRss))} MiB (target ≤ 100 MiB)\n`);
  console.log(
    `2. Ingest with delivery running (signed issue.created, distinct bodies; ${ROUNDS} rounds, bare Express then Dispatch each round)`,
  );
  console.log(
    `   bare Express 5 : ${range(
      of((x) => x.baseline.rps),
      0,
    )} req/s   p99 ${range(
      of((x) => x.baseline.p99),
      0,
    )} ms   CPU ${range(
      of((x) => x.baseline.cpuMsPerRequest),
      3,
    )} ms/req`,
  );
  console.log(
    `   Dispatch       : ${range(
      of((x) => x.dispatch.rps),
      0,
    )} req/s   p99 ${range(
      of((x) => x.dispatch.p99),
      0,
    )} ms   CPU ${range(
      of((x) => x.dispatch.cpuMsPerRequest),
      3,
    )} ms/req   (${of((x) => x.dispatch.non2xx).reduce((a, b) => a + b, 0)} non-2xx, ${of((x) => x.dispatch.errors).reduce((a, b) => a + b, 0)} errors; ${range(
      of((x) => x.delivered),
      0,
    )} events delivered during each run)`,
  );
  console.log(
    `   ratio req/s    : ${range(
      of((x) => x.dispatch.rps / x.baseline.rps),
      2,
    )} of bare Express (target ≥ 0.6)`,
  );
  console.log(
    `   ratio p99      : ${range(
      of((x) => x.dispatch.p99 / x.baseline.p99),
      2,
    )}× bare Express's p99 (target ≤ 1.5×)`,
  );
  console.log(`   peak RSS       : ${range(of((x) => x.peakRss))} MiB under this load (target ≤ 150 MiB)\n`);
}

if (wanted('e2e')) {
  const e = await endToEnd();
  console.log(`3. End to end (webhook sent → message at the loopback Discord, ${e.samples} events one at a time, 40 a second)`);
  console.log(`   p50 ${fmt(e.p50)} ms   p99 ${fmt(e.p99)} ms   (target p50 < 50 ms)\n`);
}

if (wanted('burst')) {
  const b = await burst();
  console.log('4. Burst drain (100 events to one channel; the loopback Discord allows 5 messages per 5 s)');
  console.log(`   ${b.messages} messages (target ≤ 12), drained in ${fmt(b.seconds)} s, ${b.rateLimited} rate-limit answers`);
}

if (wanted('cards')) {
  const c = await cardEdits();
  console.log(`\n5. Live cards (${c.followUps} follow-ups to 50 cards, 10 a second, at random; default coalescing of 1 s per card)`);
  console.log(
    `   follow-up → card edited: p50 ${fmt(c.p50)} ms   p95 ${fmt(c.p95)} ms   max ${fmt(c.max)} ms (target p95 < 1000 ms); ${c.messages} messages, ${c.edits} edits, ${c.lines} thread messages`,
  );
}

if (wanted('postgres')) {
  const cluster = await startPostgres({ durable: true });
  try {
    const rounds: Awaited<ReturnType<typeof storageRound>>[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await storageRound(cluster.url));
    console.log(`\n6. Ingest by storage (${ROUNDS} rounds; each: bare Express, then Dispatch on each storage, delivery running)`);
    const line = (label: string, pick: (round: (typeof rounds)[number]) => { rps: number; p99: number; failed: number }) =>
      console.log(
        `   ${label}: ${range(
          rounds.map((x) => pick(x).rps / x.baseline.rps),
          2,
        )} of bare Express's req/s   ` +
          `p99 ${range(
            rounds.map((x) => pick(x).p99 / x.baseline.p99),
            2,
          )}× its p99   ` +
          `(${range(
            rounds.map((x) => pick(x).rps),
            0,
          )} req/s, ${rounds.reduce((n, x) => n + pick(x).failed, 0)} failed)`,
      );
    console.log(
      `   bare Express 5          : ${range(
        rounds.map((x) => x.baseline.rps),
        0,
      )} req/s   p99 ${range(
        rounds.map((x) => x.baseline.p99),
        0,
      )} ms`,
    );
    line('SQLite, one process     ', (x) => x.sqlite);
    line('Postgres, one replica   ', (x) => x.postgres1);
    line('Postgres, two replicas  ', (x) => x.postgres2);
    console.log('   (one 2-core machine: the replicas, Postgres and the load generator share its cores)');
  } finally {
    await cluster.stop();
  }
}

/** Prints one idle-sources comparison (section 7 or 10). */
function printIdle(rounds: Awaited<ReturnType<typeof idleSourcesRound>>[]) {
  const pick = (f: (x: (typeof rounds)[number]) => number, digits = 1) => range(rounds.map(f), digits);
  console.log(
    `   empty database      : ack p50 ${pick((x) => x.empty.ackP50)} ms, p99 ${pick((x) => x.empty.ackP99)} ms   webhook → message p50 ${pick((x) => x.empty.e2eP50)} ms, p99 ${pick((x) => x.empty.e2eP99)} ms`,
  );
  console.log(
    `   1,000 idle sources  : ack p50 ${pick((x) => x.idle.ackP50)} ms, p99 ${pick((x) => x.idle.ackP99)} ms   webhook → message p50 ${pick((x) => x.idle.e2eP50)} ms, p99 ${pick((x) => x.idle.e2eP99)} ms`,
  );
  console.log(
    `   ratio (idle / empty): ack p99 ${pick((x) => x.idle.ackP99 / x.empty.ackP99, 2)}×   webhook → message p99 ${pick((x) => x.idle.e2eP99 / x.empty.e2eP99, 2)}×   (target ≤ 2×)`,
  );
}

function printBigStart(rounds: Awaited<ReturnType<typeof bigStartRound>>[]) {
  console.log(
    `   spawn → /healthz 200: ${range(
      rounds.map((x) => x.healthz),
      0,
    )} ms (target ≤ 2000 ms)   idle RSS ${range(rounds.map((x) => x.idleRss))} MiB (target ≤ 120 MiB)`,
  );
}

if (wanted('idle')) {
  const rounds: Awaited<ReturnType<typeof idleSourcesRound>>[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await idleSourcesRound());
  console.log(`\n7. A thousand channels (200 webhooks at 20 a second to one feed source; ${ROUNDS} rounds, SQLite)`);
  printIdle(rounds);
}

if (wanted('layouts')) {
  const rounds: Awaited<ReturnType<typeof layoutRound>>[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await layoutRound());
  const pick = (f: (x: (typeof rounds)[number]) => number, digits = 1) => range(rounds.map(f), digits);
  console.log(`\n8. Layouts (ingest with delivery running, ${CONNECTIONS} connections × ${DURATION_S} s; ${ROUNDS} rounds)`);
  console.log(`   bare Express 5 : ${pick((x) => x.baseline.rps, 0)} req/s   p99 ${pick((x) => x.baseline.p99, 0)} ms`);
  console.log(
    `   feed route     : ${pick((x) => x.feed.rps, 0)} req/s (${pick((x) => x.feed.rps / x.baseline.rps, 2)} of bare)   p99 ${pick((x) => x.feed.p99, 0)} ms (${pick((x) => x.feed.p99 / x.baseline.p99, 2)}× bare)`,
  );
  console.log(
    `   card route     : ${pick((x) => x.card.rps, 0)} req/s (${pick((x) => x.card.rps / x.baseline.rps, 2)} of bare)   p99 ${pick((x) => x.card.p99, 0)} ms (${pick((x) => x.card.p99 / x.baseline.p99, 2)}× bare)`,
  );
  console.log(
    `   card / feed    : ${pick((x) => x.card.rps / x.feed.rps, 2)} of the feed's req/s (target ≥ 0.9)   card ack p99 ${pick((x) => x.card.p99 / x.baseline.p99, 2)}× bare (target ≤ 2×)`,
  );
}

if (wanted('bigstart')) {
  const rounds: Awaited<ReturnType<typeof bigStartRound>>[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await bigStartRound());
  console.log(`\n9. Start-up beside 1,000 sources and 10,000 open cards (${ROUNDS} starts, SQLite)`);
  printBigStart(rounds);
}

if (wanted('scale-postgres')) {
  const cluster = await startPostgres({ durable: true });
  try {
    const idle: Awaited<ReturnType<typeof idleSourcesRound>>[] = [];
    const start: Awaited<ReturnType<typeof bigStartRound>>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      idle.push(await idleSourcesRound(cluster.url));
      start.push(await bigStartRound(cluster.url));
    }
    console.log(`\n10. Sections 7 and 9 on Postgres, one replica (${ROUNDS} rounds)`);
    printIdle(idle);
    printBigStart(start);
  } finally {
    await cluster.stop();
  }
}

if (wanted('restart')) {
  const upToDate: number[] = [];
  const rebuilt: number[] = [];
  for (let r = 0; r < Math.max(ROUNDS, 5); r++) upToDate.push(await restartRound());
  for (let r = 0; r < Math.max(ROUNDS, 5); r++) rebuilt.push(await restartRound('src/index.ts'));
  console.log(`\n11. Restarts (\`npm start\` → /healthz 200; ${upToDate.length} starts each)`);
  console.log(`   dist/ up to date         : ${range(upToDate, 0)} ms (target ≤ 1500 ms)`);
  console.log(`   after a source changed   : ${range(rebuilt, 0)} ms (it builds first)`);
}

if (wanted('config-error')) {
  const runs = Math.max(ROUNDS, 10);
  const missing: number[] = [];
  const several: number[] = [];
  const bad = { PORT: 'abc', LOG_LEVEL: 'loud', RETRY_SCHEDULE: 'soon', DATABASE_PATH: '/proc/version/dispatch.db' };
  for (let r = 0; r < runs; r++) {
    missing.push(await configErrorRound({}));
    several.push(await configErrorRound(bad));
  }
  console.log(`\n12. A configuration error (\`node dist/src/index.js\` → exit 1; ${runs} runs each)`);
  console.log(`   no DISCORD_TOKEN          : ${range(missing, 0)} ms (target ≤ 500 ms)`);
  console.log(`   four bad variables at once: ${range(several, 0)} ms (target ≤ 500 ms)`);
}

if (wanted('spool')) {
  const cluster = await startPostgres({ durable: true });
  try {
    const rounds: Awaited<ReturnType<typeof spoolRound>>[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await spoolRound(cluster.url));
    const pick = (f: (x: (typeof rounds)[number]) => number, digits = 0) => range(rounds.map(f), digits);
    console.log(
      `\n13. Postgres away, one replica (10,000 webhooks, ${CONNECTIONS} connections, into the spool; ${ROUNDS} rounds; DATABASE_SYNCHRONOUS=FULL)`,
    );
    console.log(
      `   while spooling : ${pick((x) => x.spooling.rps)} req/s   p99 ${pick((x) => x.spooling.p99)} ms   (${rounds.reduce((n, x) => n + x.spooling.non2xx + x.spooling.errors, 0)} failed; ${pick((x) => x.spooled)} in the spool)`,
    );
    console.log(
      `   drain          : ${pick((x) => x.drainMs)} ms for the 10,000 (${pick((x) => x.spooled / (x.drainMs / 1000))} events/s into Postgres, the worker delivering meanwhile)`,
    );
  } finally {
    await cluster.stop();
  }
}

if (wanted('large')) {
  const { seededS, results, peakRss } = await largeRound();
  console.log(
    `\n14. Big operations on a large SQLite database (${EVENTS.toLocaleString('en')} events on two routes and ${WAITING.toLocaleString('en')} waiting on a held channel, seeded in ${fmt(seededS, 0)} s), each beside 20 webhooks a second`,
  );
  console.log('   operation                                                   answered   done in   longest stall   webhook ack p99 / max');
  for (const r of results) {
    const answered = r.answeredMs === undefined ? '—' : `${fmt(r.answeredMs, 0)} ms`;
    console.log(
      `   ${r.name.padEnd(60)}${answered.padStart(8)}${`${fmt(r.totalMs / 1000)} s`.padStart(10)}${`${fmt(r.stallMs, 0)} ms`.padStart(16)}   ${fmt(r.ackP99, 0)} / ${fmt(r.ackMax, 0)} ms (${r.webhooks} webhooks${r.failed ? `, ${r.failed} failed` : ''})`,
    );
  }
  console.log(`   peak RSS ${fmt(peakRss)} MiB   (targets: stall ≤ 50 ms, ack p99 < 1 s, answered < 3 s)`);
}
