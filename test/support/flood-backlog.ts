import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { peakRssMb, productionArgs, startChild, type ChildDispatch } from './child.js';
import { openTestDatabase, preparedDatabase, waitFor } from './harness.js';
import { admin, slash, str } from './interactions.js';
import { holdChannel, seedMany } from './seed-many.js';

/**
 * Issue 33's crash loop, as `npm start` runs Dispatch (its 128 MB heap): `waiting` deliveries on a
 * held feed channel, `/dispatch source retry`, and the flood summaries that collapse them. Once,
 * with one summary's send cut off by a kill (Discord posted it, its answer never came), and the
 * process started again on the same file: every waiting event is counted in exactly one summary,
 * and neither process ends or grows past `PEAK_RSS_LIMIT_MB`.
 */
export const PEAK_RSS_LIMIT_MB = 150;

/** How many events a summary message counts: the sum of its embeds' `+N more …` titles. */
function countedIn(message: { embeds: { title?: string }[] }): number {
  return message.embeds.reduce((sum, embed) => sum + Number(/^\+(\d+) more/.exec(embed.title ?? '')?.[1] ?? 0), 0);
}

/** What one process's stderr said when it ended, if it did (a heap limit: `FATAL ERROR … heap out of memory`). */
function lastWords(child: ChildDispatch): () => string {
  let stderr = '';
  child.process.stderr!.on('data', (chunk) => (stderr = (stderr + String(chunk)).slice(-2000)));
  return () => stderr;
}

export async function floodBacklogAfterRetry(waiting: number, timeoutMs: number): Promise<void> {
  const prepared = await preparedDatabase({ secret: null, layout: 'feed' });
  const { source, discord, guild } = prepared;
  const children: ChildDispatch[] = [];
  const start = async () => {
    const child = await startChild(prepared.env(), productionArgs());
    children.push(child);
    await waitFor(() => child.logs.some((l) => l.msg === 'Discord gateway ready'), 30_000, 'the gateway');
    return child;
  };
  try {
    const db = await openTestDatabase(prepared.path, {});
    try {
      await seedMany(db, { sourceId: source.id, routeId: source.route.id, channelId: source.channelId, count: waiting, status: 'pending' });
      await holdChannel(db, source.channelId, guild.id);
    } finally {
      await db.close();
    }
    const counted = () => discord.messagesIn(source.channelId).reduce((sum, m) => sum + countedIn(m), 0);

    const first = await start();
    const firstWords = lastWords(first);
    const retry = slash(admin(guild), 'retry', [str('source', 'web')]);
    discord.dispatch('INTERACTION_CREATE', retry);
    await discord.waitForResponse((r) => r.token === retry.token, 10_000);
    // The first summary is posted; the next one Discord posts but never answers, and the process is killed while it waits.
    await waitFor(() => counted() > 0 || first.process.exitCode !== null, timeoutMs, 'the first summary');
    expect(firstWords()).not.toMatch(/heap out of memory/);
    discord.inject([{ status: 200, postThenHang: true }], source.channelId);
    const posted = discord.messageRequests(source.channelId).length;
    await waitFor(
      () => discord.messageRequests(source.channelId).length > posted || first.process.exitCode !== null,
      timeoutMs,
      'a summary cut off',
    );
    expect(first.process.exitCode).toBeNull();
    const firstPeak = peakRssMb(first.process.pid!);
    first.process.kill('SIGKILL');
    await first.exited;
    expect(counted()).toBeLessThan(waiting);

    // Started again on the same file, with no command: the cut-off summary goes again under its nonce, then the rest.
    const again = await start();
    const againWords = lastWords(again);
    await waitFor(() => counted() >= waiting || again.process.exitCode !== null, timeoutMs, `summaries counting all ${waiting} events`);
    expect(againWords()).not.toMatch(/heap out of memory/);
    expect(again.process.exitCode).toBeNull();
    const againPeak = peakRssMb(again.process.pid!);
    const summaries = discord.messagesIn(source.channelId).length;
    console.log(
      `${waiting} waiting on a held channel, source retry: ${summaries} summaries; peak RSS ${firstPeak.toFixed(1)} MB, after the restart ${againPeak.toFixed(1)} MB`,
    );
    // Each event in exactly one summary, none posted twice (the one cut off was answered by its nonce).
    expect(counted()).toBe(waiting);
    expect(Math.max(firstPeak, againPeak)).toBeLessThanOrEqual(PEAK_RSS_LIMIT_MB);

    // And recorded: nothing is left waiting or being sent (the last summary's record may follow its post by a moment).
    const check = await openTestDatabase(prepared.path, {});
    try {
      const left = async () =>
        Number((await check.get<{ n: number }>(sql`select count(*) as n from deliveries where status in ('pending', 'sending')`))!.n);
      const deadline = Date.now() + 10_000;
      while ((await left()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await left()).toBe(0);
    } finally {
      await check.close();
    }
  } finally {
    for (const child of children) {
      child.process.kill('SIGKILL');
      await child.exited;
    }
    await prepared.cleanup();
  }
}
