import { afterEach, describe, expect, it } from 'vitest';
import type { Layout } from '../../src/db/routes.js';
import type { Source } from '../../src/db/schema.js';
import { startChild, type ChildDispatch } from '../support/child.js';
import type { FakeDiscord } from '../support/fake-discord.js';
import { preparedDatabase } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

const base = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const commentFixture = loadFixture('comment.created.json') as { data: Record<string, unknown> };
const issue = (shortId: string) => ({ ...base, data: { issue: { ...base.data.issue, shortId } } });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(layout: Layout = 'feed') {
  const { discord, source, env: envFor, cleanup } = await preparedDatabase({ layout });
  cleanups.push(cleanup);
  const env = envFor({ RETRY_SCHEDULE: '50ms,100ms', SHUTDOWN_TIMEOUT: '1s', BATCH_LINGER: '20ms' });
  const start = async () => {
    const child = await startChild(env);
    cleanups.push(() => void child.process.kill('SIGKILL'));
    return child;
  };
  return { discord, source, start };
}

async function postAll(child: ChildDispatch, source: Source, ids: string[]) {
  for (const id of ids) {
    const request = sentryRequest('issue', issue(id), 'sek');
    const response = await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers });
    expect(response.status).toBe(202);
  }
}

function timesPosted(discord: FakeDiscord, channelId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const embed of discord.messagesIn(channelId).flatMap((m) => m.embeds)) {
    const id = /· ([A-Z0-9-]+)$/.exec((embed as { author?: { name: string } }).author?.name ?? '')?.[1] ?? '?';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('a crash after the 202 loses nothing and posts nothing twice', () => {
  it('kill -9 while Discord has posted but not answered, then restart on the same file: every event exactly once', async () => {
    const { discord, source, start } = await setUp();
    // The first send reaches Discord and is posted, but the answer never comes back.
    discord.inject([{ status: 200, postThenHang: true }], source.channelId);
    const first = await start();
    const ids = Array.from({ length: 20 }, (_, i) => `CRASH-${i}`);
    await postAll(first, source, ids);
    await expect.poll(() => discord.messageRequests(source.channelId).length).toBe(1);
    expect(discord.messagesIn(source.channelId)).toHaveLength(1);

    first.process.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    await start();
    await expect.poll(() => timesPosted(discord, source.channelId).size, { timeout: 15_000 }).toBe(20);
    await new Promise((r) => setTimeout(r, 300));
    const counts = timesPosted(discord, source.channelId);
    expect([...counts.keys()].sort()).toEqual([...ids].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    // The restart resent the first batch under its nonce, and Discord answered with the existing message.
    const nonces = discord.messageRequests(source.channelId).map((r) => (r.body as { nonce: string }).nonce);
    expect(nonces[1]).toBe(nonces[0]);
  });

  it('kill -9 while a send hangs: the restart delivers everything once', async () => {
    const { discord, source, start } = await setUp();
    discord.inject([{ status: 0, hang: true }], source.channelId);
    const first = await start();
    const ids = Array.from({ length: 15 }, (_, i) => `HANG-${i}`);
    await postAll(first, source, ids);
    // Killed while the first send is on the wire (not before it started).
    await expect.poll(() => discord.messageRequests(source.channelId).length).toBe(1);
    first.process.kill('SIGKILL');
    await first.exited;
    expect(discord.messagesIn(source.channelId)).toHaveLength(0);

    await start();
    await expect.poll(() => timesPosted(discord, source.channelId).size, { timeout: 15_000 }).toBe(15);
    expect([...timesPosted(discord, source.channelId).values()].every((n) => n === 1)).toBe(true);
    // The batch on the wire was sent again as it was, under its nonce.
    const nonces = discord.messageRequests(source.channelId).map((r) => (r.body as { nonce: string }).nonce);
    expect(nonces[1]).toBe(nonces[0]);
  });

  it('SIGTERM stops taking requests, waits a bounded time for a hung send, exits 0, and the rest is delivered after restart', async () => {
    const { discord, source, start } = await setUp();
    discord.inject([{ status: 0, hang: true }], source.channelId);
    const first = await start();
    await postAll(first, source, ['TERM-1', 'TERM-2']);
    await expect.poll(() => discord.messageRequests(source.channelId).length).toBe(1);
    const stoppedAt = Date.now();
    first.process.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(8000);
    expect(first.logs.some((l) => l.msg === 'stopped')).toBe(true);

    await start();
    await expect.poll(() => timesPosted(discord, source.channelId).size, { timeout: 15_000 }).toBe(2);
  });

  it('kill -9 between posting a card and recording it, then between editing it and recording that: one card, every line once', async () => {
    const { discord, source, start } = await setUp('card');
    const post = async (child: ChildDispatch, resource: string, payload: Record<string, unknown>) => {
      const request = sentryRequest(resource, payload, 'sek');
      expect(
        (await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', body: request.body, headers: request.headers })).status,
      ).toBe(202);
    };
    const comment = (text: string) => ({
      ...commentFixture,
      data: { ...commentFixture.data, issue_id: String(base.data.issue.id), comment: text },
    });
    const lines = (threadId: string) =>
      discord.messagesIn(threadId).flatMap((m) => (m.content ?? '').split('\n').map((l) => l.replace(/^<t:\d+:t> /, '')));

    // Discord posts the card but the answer never comes: the card is not recorded when the process dies.
    discord.inject([{ status: 200, postThenHang: true }], source.channelId);
    const first = await start();
    await post(first, 'issue', issue('CARD-1'));
    await expect.poll(() => discord.messageRequests(source.channelId).length).toBe(1);
    first.process.kill('SIGKILL');
    await first.exited;

    const second = await start();
    // The restart sends the card again under its nonce; Discord answers with the card it has, now recorded.
    await expect.poll(() => discord.messageRequests(source.channelId).length, { timeout: 15_000 }).toBe(2);
    const card = discord.messagesIn(source.channelId)[0]!;
    await post(second, 'comment', comment('first look'));
    await expect.poll(() => lines(card.id), { timeout: 15_000 }).toEqual(['colleen commented: first look']);

    // The next edit reaches Discord, its thread line too, but the answer to the edit never comes.
    discord.injectEdits([{ status: 200, postThenHang: true }], card.id);
    await post(second, 'comment', comment('second look'));
    await expect.poll(() => discord.editsOf(card.id).length, { timeout: 15_000 }).toBe(2);
    second.process.kill('SIGKILL');
    await second.exited;

    await start();
    // The edit is sent again (the whole card: harmless); the line's nonce keeps it from being posted twice.
    await expect.poll(() => discord.editsOf(card.id).length, { timeout: 15_000 }).toBe(3);
    await new Promise((r) => setTimeout(r, 500));
    expect(discord.messagesIn(source.channelId)).toHaveLength(1);
    expect(lines(card.id)).toEqual(['colleen commented: first look', 'colleen commented: second look']);
    expect(JSON.stringify(discord.message(card.id)!.embeds)).toContain('second look');
  });
});
