import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FakeDiscord } from '../support/fake-discord.js';

/**
 * A Dispatch left running by another test file keeps its Discord's address; when the kernel hands
 * that port to this file's fake Discord, the stranger must be turned away, or it answers this
 * file's interactions from its own database (seen on CI: "No source named …" right after a source
 * was made). Each fake answers only under its own path.
 */
let discord: FakeDiscord;
beforeAll(async () => {
  discord = await FakeDiscord.start();
});
afterAll(() => discord.stop());

const upgrade = (url: string) =>
  new Promise<'open' | 'refused'>((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('error', () => resolve('refused'));
  });

describe('the fake Discord answers only the Dispatch given its address', () => {
  it('REST under its own path; the same port without it is 404 and not recorded', async () => {
    const own = await fetch(`${discord.apiUrl}/v10/gateway/bot`, { headers: { authorization: 'Bot t' } });
    expect(own.status).toBe(200);
    const gateway = ((await own.json()) as { url: string }).url;
    expect(gateway).toContain(new URL(discord.apiUrl).pathname.replace(/\/api$/, ''));
    const recorded = discord.requests.length;
    const stranger = await fetch(`http://127.0.0.1:${discord.port}/api/v10/gateway/bot`, { headers: { authorization: 'Bot t' } });
    expect(stranger.status).toBe(404);
    expect(discord.requests.length).toBe(recorded);
  });

  it('the gateway under its own path; a stranger is refused the upgrade', async () => {
    const own = (await (await fetch(`${discord.apiUrl}/v10/gateway/bot`)).json()) as { url: string };
    expect(await upgrade(own.url)).toBe('open');
    expect(await upgrade(`ws://127.0.0.1:${discord.port}/gateway`)).toBe('refused');
  });
});
