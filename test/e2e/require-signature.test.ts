import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import { admin, answerOf, chan, messageOf, modalSubmit, shownText, slash, str, type Member } from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

let h: Harness;
let alice: Member;
beforeAll(async () => {
  h = await startHarness({ env: { REQUIRE_SIGNATURE: 'true' } });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = admin(h.guild);
});
afterAll(async () => {
  await h?.close();
});

describe('REQUIRE_SIGNATURE=true', () => {
  it('create takes no secret yet (Sentry shows it only once the integration is saved): webhooks get 401 until source secret sets it', async () => {
    const opened = await answerOf(h.discord, slash(alice, 'create', [str('name', 'strict'), chan('channel', h.channelId)]));
    expect(messageOf(opened).components[0].component).toMatchObject({ custom_id: 'secret', required: false });
    const created = shownText(await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret: '  ' })));
    expect(created).toContain('created');
    expect(created).toContain('refused (401) until you set it (REQUIRE_SIGNATURE is on)');
    const slug = /\/hooks\/([A-Za-z0-9_-]{32})/.exec(created)![1]!;
    const unsigned = await h.post(slug, sentryRequest('issue', loadFixture('issue.created.json')));
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('sentry-hook-error')).toMatch(/^signature required/);

    // Sentry now shows the Client Secret: set it, and signed webhooks are taken.
    const form = await answerOf(h.discord, slash(alice, 'secret', [str('source', 'strict')]));
    expect(shownText(await answerOf(h.discord, modalSubmit(alice, messageOf(form).custom_id, { secret: 'strict-secret' })))).toContain(
      'set',
    );
    expect((await h.post(slug, sentryRequest('issue', loadFixture('issue.created.json'), 'strict-secret'))).status).toBe(202);
    expect((await h.post(slug, sentryRequest('issue', loadFixture('issue.created.json')))).status).toBe(401);
  });

  it('a secret cannot be cleared', async () => {
    const form = await answerOf(h.discord, slash(alice, 'secret', [str('source', 'strict')]));
    const refused = await answerOf(h.discord, modalSubmit(alice, messageOf(form).custom_id, { secret: '' }));
    expect(shownText(refused)).toContain('requires a signing secret');
  });

  it('a source left without a secret (from before) answers 401, and info says so plainly', async () => {
    const open = await h.addSource({ secret: null, name: 'legacy' });
    const response = await h.post(open.slug, sentryRequest('issue', loadFixture('issue.created.json')));
    expect(response.status).toBe(401);
    expect(response.headers.get('sentry-hook-error')).toMatch(/^signature required/);
    const info = await answerOf(h.discord, slash(alice, 'info', [str('source', 'legacy')]));
    expect(shownText(info)).toContain('every webhook is refused (401) until one is set');
  });
});

describe('without REQUIRE_SIGNATURE', () => {
  it('info warns plainly that anyone with the URL can post', async () => {
    const other = await startHarness();
    try {
      await waitFor(() => other.dispatch.client.isReady(), 20_000, 'the gateway');
      await other.addSource({ secret: null, name: 'open' });
      const info = await answerOf(other.discord, slash(admin(other.guild), 'info', [str('source', 'open')]));
      expect(shownText(info)).toContain('anyone with the URL can post to this channel');
    } finally {
      await other.close();
    }
  });
});
