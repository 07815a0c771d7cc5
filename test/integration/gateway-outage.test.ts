import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../support/harness.js';

/**
 * A Discord gateway outage, as the log tells it: discord.js tries to reconnect about twice a
 * second, and the log says so once when it starts and once when it ends, with the attempts.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ captureLogs: true });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
});
afterAll(async () => {
  await h?.close();
});

let from = 0;
/** The log's lines about the gateway since the outage began. */
const gatewayLines = () =>
  h.logLines
    .slice(from)
    .map((line) => JSON.parse(line) as { msg: string; attempts?: number })
    .filter((l) => /gateway/i.test(l.msg));

describe('a gateway outage in the log', () => {
  it('one line when the connection is lost and one when it is back, with the attempts counted in between', async () => {
    from = h.logLines.length;
    h.discord.setGatewayEnabled(false);
    h.discord.dropGateway();
    await expect.poll(() => gatewayLines().length, { timeout: 5000 }).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1500)); // several attempts fail meanwhile
    expect(gatewayLines().map((l) => l.msg)).toEqual([
      'Discord gateway connection lost; reconnecting (webhooks are still accepted and posted)',
    ]);

    h.discord.setGatewayEnabled(true);
    await expect.poll(() => gatewayLines().length, { timeout: 15_000 }).toBe(2);
    const back = gatewayLines()[1]!;
    expect(back.msg).toBe('Discord gateway reconnected');
    expect(back.attempts).toBeGreaterThan(1);
    await waitFor(() => h.dispatch.client.isReady(), 10_000, 'the gateway again');
  });
});
