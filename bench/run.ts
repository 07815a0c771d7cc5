/**
 * npm run bench — Dispatch's numbers beside a baseline measured in the same run, as ratios.
 *   1. ingest: signed issue.created webhooks, autocannon, 50 connections, 10 s, against Dispatch
 *      and against a bare Express 5 endpoint answering 202 to the same requests;
 *   2. end to end: webhook sent → message posted at the loopback Discord, one at a time;
 *   3. burst drain: 100 events to one channel, the loopback Discord allowing 5 messages per 5 s;
 *   4. live cards: a follow-up webhook about an issue → the edit of its card, with the default
 *      coalescing (a card is edited at most once a second).
 * Everything runs on loopback; Dispatch and the baseline run as child processes. The bench
 * stands on its own: it uses Dispatch's code and its own loopback Discord, nothing from test/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createSource } from '../src/db/sources.js';
import { openSqlite } from '../src/db/sqlite.js';
import type { Source } from '../src/db/schema.js';
import { sampleIssueCreated } from '../src/sentry/samples.js';
import { sign } from '../src/sentry/verify.js';
import { startLoopbackDiscord, type LoopbackDiscord } from './loopback-discord.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-client-secret';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
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
  exited: Promise<unknown>;
}

/** Starts a server script and resolves with the URL from its "webhook listener ready" line. */
async function startProcess(script: string, env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_PRETTY: 'false', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'webhook listener ready') resolve(String(entry.url));
      } catch {
        // not a log line
      }
    });
    void exited.then(() => reject(new Error(`${script} exited before it was ready`)));
  });
  return { url, process: child, exited };
}

async function startDispatch(
  discord: LoopbackDiscord,
  env: Record<string, string> = {},
  layout: 'feed' | 'card' = 'feed',
): Promise<{ child: Child; source: Source; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-bench-'));
  const databasePath = join(dir, 'dispatch.db');
  const db = openSqlite(databasePath);
  const { source } = await createSource(
    db,
    { guildId: discord.guildId, channelId: discord.channelId, layout, name: 'bench', signingSecret: SECRET, createdBy: '1' },
    Date.now(),
  );
  await db.close();
  const child = await startProcess('src/index.ts', {
    DISCORD_TOKEN: 'bench-token',
    DISCORD_API_URL: discord.apiUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_PATH: databasePath,
    // The production default: every webhook and delivery writes a log line, and that is part of the cost.
    LOG_LEVEL: 'info',
    BATCH_LINGER: '500ms',
    ...env,
  });
  return { child, source, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
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

/** Load from this process; the server's own CPU use is read from /proc around the run. */
async function load(url: string, pid: number) {
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION_S,
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

async function ingestDispatch(env: Record<string, string>) {
  const discord = await startLoopbackDiscord();
  const { child, source, cleanup } = await startDispatch(discord, env);
  const result = await load(`${child.url}/hooks/${source.slug}`, child.process.pid!);
  const rss = peakRssMb(child.process.pid!);
  await stop(child);
  await discord.stop();
  cleanup();
  return { ...result, rss };
}

async function ingest() {
  const bare = await startProcess('bench/bare-express.ts', {});
  const baseline = await load(`${bare.url}/hooks/bench`, bare.process.pid!);
  await stop(bare);
  const dispatch = await ingestDispatch({ DATABASE_SYNCHRONOUS: 'FULL' });
  const normal = await ingestDispatch({ DATABASE_SYNCHRONOUS: 'NORMAL' });
  return { baseline, dispatch, normal, rss: dispatch.rss };
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

const fmt = (n: number, digits = 1) => n.toFixed(digits);

/** BENCH_ONLY=cards,burst runs some sections (ingest, e2e, burst, cards); all by default. */
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const wanted = (section: string) => !only || only.includes(section);

console.log(`Dispatch benchmarks — ${new Date().toISOString()}, Node ${process.version}, ${CONNECTIONS} connections × ${DURATION_S} s\n`);
if (wanted('ingest')) {
  const i = await ingest();
  console.log('1. Ingest (signed issue.created, distinct bodies)');
  console.log(
    `   bare Express 5 : ${fmt(i.baseline.rps, 0)} req/s   p50 ${i.baseline.p50} ms   p99 ${i.baseline.p99} ms   (${i.baseline.total} requests, ${i.baseline.non2xx} non-2xx, ${i.baseline.errors} errors)`,
  );
  console.log(
    `   Dispatch (FULL): ${fmt(i.dispatch.rps, 0)} req/s   p50 ${i.dispatch.p50} ms   p99 ${i.dispatch.p99} ms   (${i.dispatch.total} requests, ${i.dispatch.non2xx} non-2xx, ${i.dispatch.errors} errors)`,
  );
  console.log(
    `   ratio          : ${fmt((100 * i.dispatch.rps) / i.baseline.rps)} % of bare Express's req/s (target ≥ 60 %); p99 ack ${i.dispatch.p99} ms (target < 20 ms)`,
  );
  console.log(
    `   server CPU     : ${fmt(i.dispatch.cpuMsPerRequest, 3)} ms per request vs ${fmt(i.baseline.cpuMsPerRequest, 3)} ms bare (${fmt(i.dispatch.cpuMsPerRequest / i.baseline.cpuMsPerRequest, 2)}×; the load generator shares the 2 cores)`,
  );
  console.log(`   Dispatch peak RSS: ${fmt(i.rss)} MiB`);
  console.log(
    `   durability     : synchronous=FULL ${fmt(i.dispatch.rps, 0)} req/s vs NORMAL ${fmt(i.normal.rps, 0)} req/s (FULL costs ${fmt(100 - (100 * i.dispatch.rps) / i.normal.rps)} %)\n`,
  );
}

if (wanted('e2e')) {
  const e = await endToEnd();
  console.log(`2. End to end (webhook sent → message at the loopback Discord, ${e.samples} events one at a time, 40 a second)`);
  console.log(`   p50 ${fmt(e.p50)} ms   p99 ${fmt(e.p99)} ms   (target p50 < 50 ms)\n`);
}

if (wanted('burst')) {
  const b = await burst();
  console.log('3. Burst drain (100 events to one channel; the loopback Discord allows 5 messages per 5 s)');
  console.log(`   ${b.messages} messages (target ≤ 12), drained in ${fmt(b.seconds)} s, ${b.rateLimited} rate-limit answers`);
}

if (wanted('cards')) {
  const c = await cardEdits();
  console.log(`\n4. Live cards (${c.followUps} follow-ups to 50 cards, 10 a second, at random; default coalescing of 1 s per card)`);
  console.log(
    `   follow-up → card edited: p50 ${fmt(c.p50)} ms   p95 ${fmt(c.p95)} ms   max ${fmt(c.max)} ms (target p95 < 1000 ms); ${c.messages} messages, ${c.edits} edits, ${c.lines} thread messages`,
  );
}
