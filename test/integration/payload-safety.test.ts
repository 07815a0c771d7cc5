import { afterEach, describe, expect, it } from 'vitest';
import { setTemplate } from '../../src/db/templates.js';
import { startHarness, type Harness } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

const base = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const issue = (extra: Record<string, unknown>) => ({ ...base, data: { issue: { ...base.data.issue, ...extra } } });

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('payload text reaches Discord as text', () => {
  it('a masked link, a role mention and @everyone in an issue are shown, not rendered, and nothing pings', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    const hostile = '[Re-login here](https://evil.example) <@&222222222222222222> @everyone\n# Heading';
    const comment = loadFixture('comment.created.json') as { data: Record<string, unknown> };
    await h.postEvent(source, 'comment', { ...comment, data: { ...comment.data, comment: hostile } });
    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [] });
    const description = (message.embeds[0] as { description: string }).description;
    expect(description).toBe('> \\[Re-login here\\]\\(https://evil.example\\) \\<@&222222222222222222\\> @\u200beveryone\n> \\# Heading');
  });

  it('a template pings only the role written in it, never one a payload title carries', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    const template = {
      content: '<@&111111111111111111> {{ payload.data.issue.title }}',
      allow_role_mentions: true,
      embed: { title: '{{ payload.data.issue.shortId }}' },
    };
    await setTemplate(
      h.dispatch.db,
      { sourceId: source.id, routeId: null, eventPattern: 'issue.*', body: JSON.stringify(template), updatedBy: '1' },
      Date.now(),
    );
    await h.postEvent(source, 'issue', issue({ title: 'down <@&222222222222222222> @here', shortId: 'PING-1' }));
    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect(message.allowed_mentions).toEqual({ parse: [], roles: ['111111111111111111'] });
    expect(message.content).toBe('<@&111111111111111111> down \\<@&222222222222222222\\> @\u200bhere');
  });

  it('an issue URL ending in a non-ASCII character is sent percent-encoded, and Discord takes it', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    await h.postEvent(source, 'issue', issue({ web_url: 'https://sentry.io/issues/1/é', shortId: 'URL-1' }));
    const message = await h.discord.waitForMessage((m) => m.channel_id === source.channelId);
    expect((message.embeds[0] as { url?: string }).url).toBe('https://sentry.io/issues/1/%C3%A9');
    expect(h.discord.messageRequests(source.channelId).map((r) => r.status)).toEqual([200]);
  });
});

describe('bounded metrics', () => {
  it('1,000 invented event types add at most one series', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    const series = async () =>
      ((await (await fetch(`${h!.dispatch.url}/metrics`)).text()).match(/^dispatch_webhooks_total\{/gm) ?? []).length;
    await h.postEvent(source, 'issue', issue({ shortId: 'KNOWN-1' }));
    const before = await series();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          h!.post(source.slug, sentryRequest(`invented_${batch}_${i}`, { action: `did_${i}`, data: {} })),
        ),
      );
    }
    expect((await series()) - before).toBeLessThanOrEqual(1);
    expect(await (await fetch(`${h.dispatch.url}/metrics`)).text()).toContain(
      'dispatch_webhooks_total{status="202",event_type="other"} 1000',
    );
  });
});
