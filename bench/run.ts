/**
 * npm run bench — Dispatch's numbers beside a baseline measured in the same run, as ratios.
 *   1. ingest: signed issue.created webhooks, autocannon, 50 connections, 10 s, against Dispatch
 *      and against a bare Express 5 endpoint answering 202 to the same requests;
 *   2. end to end: webhook sent → message posted at the loopback Discord, one at a time;
 *   3. burst drain: 100 events to one channel, the fake Discord allowing 5 messages per 5 s.
 * Everything runs on loopback; Dispatch and the baseline run as child processes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createDb } from '../src/db/client.js';
import { createSource } from '../src/db/sources.js';
import type { Source } from '../src/db/schema.js';
import { sign } from '../src/sentry/verify.js';
import { startChild, type ChildDispatch } from '../test/support/child.js';
import { FakeDiscord } from '../test/support/fake-discord.js';
import { tempDir, testEnv, testGuild } from '../test/support/harness.js';
import { loadFixture, serializeLikeSentry } from '../test/support/sentry.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-client-secret';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 50;

const fixture = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const template = serializeLikeSentry({ ...fixture, data: { issue: { ...fixture.data.issue, shortId: 'BENCH-__N__' } } });
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

async function setUpDispatch(discord: FakeDiscord, channelId: string, guildId: string, env: Record<string, string> = {}) {
  const dir = tempDir('dispatch-bench-');
  const databasePath = join(dir.path, 'dispatch.db');
  const db = createDb(databasePath);
  const source = createSource(db, { guildId, channelId, name: 'bench', signingSecret: SECRET, createdBy: '1' });
  db.$client.close();
  const child = await startChild(testEnv(discord, databasePath, { BATCH_LINGER: '500ms', ...env }));
  return { child, source, dir };
}

async function stop(child: { process: ChildDispatch['process']; exited: Promise<unknown> }) {
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

async function startBare(): Promise<{ url: string; process: ChildDispatch['process']; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/bare-express.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => resolve(JSON.parse(line).url));
  });
  return { url, process: child, exited };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function ingest() {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild] });
  const bare = await startBare();
  const baseline = await load(`${bare.url}/hooks/bench`, bare.process.pid!);
  await stop(bare);

  const { child, source, dir } = await setUpDispatch(discord, guild.channels[0]!.id, guild.id);
  const dispatch = await load(`${child.url}/hooks/${source.slug}`, child.process.pid!);
  const rss = peakRssMb(child.process.pid!);
  await stop(child);
  await discord.stop();
  dir.remove();
  return { baseline, dispatch, rss };
}

async function endToEnd(samples = 200) {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild] });
  const channelId = guild.channels[0]!.id;
  const { child, source, dir } = await setUpDispatch(discord, channelId, guild.id);
  const latencies: number[] = [];
  // 40 events a second: under discord.js's global cap of 50 requests a second (Discord's own
  // per-bot limit), so this measures Dispatch's latency, not that cap.
  const PACE_MS = 25;
  for (let i = 0; i < samples; i++) {
    const due = performance.now() + PACE_MS;
    const request = nextRequest();
    const marker = `BENCH-${counter}`;
    const started = performance.now();
    const arrived = discord.waitForMessage((m) => JSON.stringify(m.embeds).includes(marker));
    await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    await arrived;
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await stop(child);
  await discord.stop();
  dir.remove();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples };
}

async function burst(events = 100) {
  const guild = testGuild();
  const discord = await FakeDiscord.start({ guilds: [guild], channelRateLimit: { messages: 5, windowMs: 5000 } });
  const channelId = guild.channels[0]!.id;
  const { child, source, dir } = await setUpDispatch(discord, channelId, guild.id);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: events }, () => {
      const request = nextRequest();
      return fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    }),
  );
  await discord.waitForMessages(events, channelId, 60_000);
  const seconds = (performance.now() - started) / 1000;
  const messages = discord.messagesIn(channelId).length;
  const rateLimited = discord.rateLimitHits;
  await stop(child);
  await discord.stop();
  dir.remove();
  return { events, messages, seconds, rateLimited };
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

console.log(`Dispatch benchmarks — ${new Date().toISOString()}, Node ${process.version}, ${CONNECTIONS} connections × ${DURATION_S} s\n`);
const i = await ingest();
console.log('1. Ingest (signed issue.created, distinct bodies)');
console.log(
  `   bare Express 5 : ${fmt(i.baseline.rps, 0)} req/s   p50 ${i.baseline.p50} ms   p99 ${i.baseline.p99} ms   (${i.baseline.total} requests, ${i.baseline.non2xx} non-2xx, ${i.baseline.errors} errors)`,
);
console.log(
  `   Dispatch       : ${fmt(i.dispatch.rps, 0)} req/s   p50 ${i.dispatch.p50} ms   p99 ${i.dispatch.p99} ms   (${i.dispatch.total} requests, ${i.dispatch.non2xx} non-2xx, ${i.dispatch.errors} errors)`,
);
console.log(
  `   ratio          : ${fmt((100 * i.dispatch.rps) / i.baseline.rps)} % of bare Express's req/s (target ≥ 60 %); p99 ack ${i.dispatch.p99} ms (target < 20 ms)`,
);
console.log(
  `   server CPU     : ${fmt(i.dispatch.cpuMsPerRequest, 3)} ms per request vs ${fmt(i.baseline.cpuMsPerRequest, 3)} ms bare (${fmt(i.dispatch.cpuMsPerRequest / i.baseline.cpuMsPerRequest, 2)}×; the load generator shares the 2 cores)`,
);
console.log(`   Dispatch peak RSS: ${fmt(i.rss)} MiB\n`);

const e = await endToEnd();
console.log(`2. End to end (webhook sent → message at the loopback Discord, ${e.samples} events one at a time, 40 a second)`);
console.log(`   p50 ${fmt(e.p50)} ms   p99 ${fmt(e.p99)} ms   (target p50 < 50 ms)\n`);

const b = await burst();
console.log('3. Burst drain (100 events to one channel; the fake allows 5 messages per 5 s)');
console.log(`   ${b.messages} messages (target ≤ 12), drained in ${fmt(b.seconds)} s, ${b.rateLimited} rate-limit answers from the fake`);
