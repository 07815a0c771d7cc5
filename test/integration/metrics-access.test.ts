import { networkInterfaces } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * GET /metrics on a listener open to the network (HOST=0.0.0.0): without METRICS_TOKEN only this
 * machine reads it; with it, whoever has the token. The request from elsewhere is made from this
 * machine's own non-loopback address, which is not loopback to the server.
 */
const harnesses: Harness[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.close();
});

/** This machine's first non-loopback IPv4 address: the test needs one, as any networked host has. */
function networkAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('this test needs a non-loopback IPv4 address on the machine');
  return address;
}

const from = (h: Harness, host: string) => `http://${host}:${new URL(h.dispatch.url).port}/metrics`;

describe('GET /metrics', () => {
  it('without METRICS_TOKEN: 200 from this machine, 403 from elsewhere, saying how to open it', async () => {
    const h = await startHarness({ env: { HOST: '0.0.0.0' } });
    harnesses.push(h);
    expect((await fetch(from(h, '127.0.0.1'))).status).toBe(200);
    const remote = await fetch(from(h, networkAddress()));
    expect(remote.status).toBe(403);
    expect(await remote.json()).toEqual({ error: 'metrics answer only this machine: set METRICS_TOKEN to read them from elsewhere' });
  });

  it('without METRICS_TOKEN: a request a reverse proxy on this machine forwards for a visitor is not from this machine', async () => {
    const h = await startHarness();
    harnesses.push(h);
    // What nginx (proxy_set_header X-Forwarded-For / X-Real-IP) and Caddy (X-Forwarded-For) add, and RFC 7239's header.
    for (const headers of [
      ['x-forwarded-for', '203.0.113.9'],
      ['x-real-ip', '203.0.113.9'],
      ['forwarded', 'for=203.0.113.9'],
    ] as const)
      expect((await fetch(from(h, '127.0.0.1'), { headers: Object.fromEntries([headers]) })).status).toBe(403);
    expect((await fetch(from(h, '127.0.0.1'))).status).toBe(200);
  });

  it('with METRICS_TOKEN: from anywhere with the token, from nowhere without it', async () => {
    const h = await startHarness({ env: { HOST: '0.0.0.0', METRICS_TOKEN: 'scrape-me' } });
    harnesses.push(h);
    const remote = from(h, networkAddress());
    expect((await fetch(remote)).status).toBe(401);
    const ok = await fetch(remote, { headers: { authorization: 'Bearer scrape-me' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('dispatch_webhooks_total');
    expect((await fetch(from(h, '127.0.0.1'))).status).toBe(401);
  });
});
