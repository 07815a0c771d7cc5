import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, chan, messageOf, modalSubmit, shownText, slash, str } from '../support/interactions.js';

/**
 * PUBLIC_URL left at a private address: the operator is told at start, and the member pasting the
 * webhook URL into Sentry is told beside it, in `source create` and in `source info`. A second
 * Dispatch with a public PUBLIC_URL says nothing.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { PUBLIC_URL: 'http://192.168.1.20:3000' }, captureLogs: true });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
});
afterAll(async () => {
  await h?.close();
});

const WARNING = '⚠️ **Sentry cannot reach this URL**: it points at 192.168.1.20, an address inside a private network';

describe('PUBLIC_URL at a private address', () => {
  it('the start-up log warns, naming PUBLIC_URL and what to set', () => {
    const warning = h.logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((l) => l.msg.includes('PUBLIC_URL'));
    expect(warning).toMatchObject({
      level: 40,
      msg: "⚠️ PUBLIC_URL http://192.168.1.20:3000 points at 192.168.1.20, an address inside a private network: Sentry's servers cannot reach it (only a self-hosted Sentry on the same network can). Set PUBLIC_URL to the https:// address Sentry reaches Dispatch at, and restart",
    });
  });

  it('source create and source info say it beside the webhook URL; a Dispatch with a public PUBLIC_URL does not', async () => {
    const alice = admin(h.guild);
    const opened = await answerOf(h.discord, slash(alice, 'create', [str('name', 'lan'), chan('channel', h.channelId)]));
    const created = shownText(await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret: '' })));
    expect(created).toMatch(
      /Webhook URL: `http:\/\/192\.168\.1\.20:3000\/hooks\/[A-Za-z0-9_-]{32}`\n⚠️ \*\*Sentry cannot reach this URL\*\*/,
    );
    expect(created).toContain(WARNING);
    expect(shownText(await answerOf(h.discord, slash(alice, 'info', [str('source', 'lan')])))).toContain(WARNING);

    const reachable = await startHarness({ env: { PUBLIC_URL: 'https://dispatch.example.com' } });
    try {
      await waitFor(() => reachable.dispatch.client.isReady(), 20_000, 'the gateway');
      const member = admin(reachable.guild);
      const form = await answerOf(reachable.discord, slash(member, 'create', [str('name', 'web'), chan('channel', reachable.channelId)]));
      const answer = shownText(await answerOf(reachable.discord, modalSubmit(member, messageOf(form).custom_id, { secret: '' })));
      expect(answer).toContain('https://dispatch.example.com/hooks/');
      expect(answer).not.toContain('Sentry cannot reach');
    } finally {
      await reachable.close();
    }
  });
});
