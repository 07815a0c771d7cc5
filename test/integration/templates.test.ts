import { afterEach, describe, expect, it } from 'vitest';
import { setTemplate as storeTemplate } from '../../src/db/templates.js';
import { createRoute } from '../../src/db/routes.js';
import { sourceRow } from '../support/db.js';
import { startHarness, type Harness } from '../support/harness.js';
import { loadFixture } from '../support/sentry.js';
import { asChannelId } from '../../src/ids.js';

const issueCreated = loadFixture('issue.created.json');
const issueResolved = loadFixture('example-app-mocks/issue.resolved.json');
const errorCreated = loadFixture('error.created.json');

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const titled = (title: string) => JSON.stringify({ embed: { title } });
const setTemplate = (db: Harness['dispatch']['db'], input: Parameters<typeof storeTemplate>[1]) => storeTemplate(db, input, Date.now());

async function postAndGetEmbed(
  harness: Harness,
  source: Parameters<Harness['postEvent']>[0],
  resource: string,
  payload: Record<string, unknown>,
) {
  const before = harness.discord.messages.length;
  expect((await harness.postEvent(source, resource, payload)).status).toBe(202);
  await expect.poll(() => harness.discord.messages.length).toBe(before + 1);
  return harness.discord.messages[before]!;
}

describe('templates in delivery', () => {
  it('uses the most specific template: issue.created over issue.* over *, else the built-in embed', async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    const plain = await h.addSource({ secret: null });
    await setTemplate(h.dispatch.db, {
      sourceId: source.id,
      routeId: null,
      eventPattern: '*',
      body: titled('any {{ event.type }}'),
      updatedBy: '1',
    });
    await setTemplate(h.dispatch.db, {
      sourceId: source.id,
      routeId: null,
      eventPattern: 'issue.*',
      body: titled('issue {{ event.action }}'),
      updatedBy: '1',
    });
    await setTemplate(h.dispatch.db, {
      sourceId: source.id,
      routeId: null,
      eventPattern: 'issue.created',
      body: titled('new {{ payload.data.issue.shortId }}'),
      updatedBy: '1',
    });
    expect((await postAndGetEmbed(h, source, 'issue', issueCreated)).embeds[0]).toEqual({ title: 'new PYTHON-Y' });
    expect((await postAndGetEmbed(h, source, 'issue', issueResolved)).embeds[0]).toEqual({ title: 'issue resolved' });
    expect((await postAndGetEmbed(h, source, 'error', errorCreated)).embeds[0]).toEqual({ title: 'any error.created' });
    const builtIn = (await postAndGetEmbed(h, plain, 'issue', issueCreated)).embeds[0] as { author?: { name: string } };
    expect(builtIn.author?.name).toBe('New issue · PYTHON-Y');
  });

  it("a route's own template wins for its pattern; the source's apply to every route without one", async () => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    const other = await createRoute(
      h.dispatch.db,
      {
        sourceId: source.id,
        name: 'other',
        channelId: asChannelId(h.guild.channels[1]!.id),
        layout: 'feed',
        filter: '{}',
        pingRoleId: null,
        pingLevel: 'error',
        createdBy: '1',
      },
      Date.now(),
    );
    await setTemplate(h.dispatch.db, {
      sourceId: source.id,
      routeId: null,
      eventPattern: 'issue.*',
      body: titled('source {{ event.action }}'),
      updatedBy: '1',
    });
    await setTemplate(h.dispatch.db, {
      sourceId: source.id,
      routeId: other.id,
      eventPattern: 'issue.created',
      body: titled('route {{ event.action }}'),
      updatedBy: '1',
    });
    await h.postEvent(source, 'issue', issueCreated);
    await h.postEvent(source, 'issue', issueResolved);
    const first = await h.discord.waitForMessages(2, source.channelId);
    const second = await h.discord.waitForMessages(2, other.channelId);
    expect(first.flatMap((m) => m.embeds)).toEqual([{ title: 'source created' }, { title: 'source resolved' }]);
    expect(second.flatMap((m) => m.embeds)).toEqual([{ title: 'route created' }, { title: 'source resolved' }]);
  });

  it.each([
    ['a missing variable', titled('{{ payload.data.issue.nope }}'), /missing variable/],
    ['invalid JSON after rendering', JSON.stringify({ embed: { title: 'x', fields: '[{{ payload.data.issue.title }}]' } }), /invalid JSON/],
    ["a result over Discord's limits", titled('{% for i in (1..300) %}x{% endfor %}'), /Discord allows 256/],
    ['a render that takes too long', titled('{% for i in (1..10000000) %}{% endfor %}'), /\(render\)/],
    ['a syntax error stored before syntax checks', titled('{{ oops'), /\(syntax\)/],
  ])('on %s, posts the built-in embed and records the error on the source', async (_name, body, error) => {
    h = await startHarness();
    const source = await h.addSource({ secret: null });
    await setTemplate(h.dispatch.db, { sourceId: source.id, routeId: null, eventPattern: 'issue.*', body, updatedBy: '1' });
    const message = await postAndGetEmbed(h, source, 'issue', issueCreated);
    expect((message.embeds[0] as { author?: { name: string } }).author?.name).toBe('New issue · PYTHON-Y');
    // Recorded with the delivery, just after Discord's answer.
    await expect
      .poll(async () => (await sourceRow(h!.dispatch.db, source.id)).lastTemplateError ?? '')
      .toMatch(/^template issue\.\* failed/);
    await expect.poll(async () => (await sourceRow(h!.dispatch.db, source.id)).eventsDelivered).toBe(1);
    expect((await sourceRow(h.dispatch.db, source.id)).lastTemplateError).toMatch(error);
  });

  it('pings a role from content only when the template allows it, and sends that event alone', async () => {
    h = await startHarness({ env: { BATCH_LINGER: '200ms' } });
    const allowed = await h.addSource({ secret: null });
    const denied = await h.addSource({ secret: null, channelId: h.guild.channels[1]!.id });
    const body = (allow: boolean) =>
      JSON.stringify({
        content: '<@&123456789012345678> @everyone {{ payload.data.issue.shortId }}',
        allow_role_mentions: allow,
        embed: { title: '{{ payload.data.issue.title }}' },
      });
    await setTemplate(h.dispatch.db, {
      sourceId: allowed.id,
      routeId: null,
      eventPattern: 'issue.created',
      body: body(true),
      updatedBy: '1',
    });
    await setTemplate(h.dispatch.db, {
      sourceId: denied.id,
      routeId: null,
      eventPattern: 'issue.created',
      body: body(false),
      updatedBy: '1',
    });
    const pinged = await postAndGetEmbed(h, allowed, 'issue', issueCreated);
    expect(pinged.content).toBe('<@&123456789012345678> @everyone PYTHON-Y');
    expect(pinged.allowed_mentions).toEqual({ parse: [], roles: ['123456789012345678'] });
    const quiet = await postAndGetEmbed(h, denied, 'issue', issueCreated);
    expect(quiet.allowed_mentions).toEqual({ parse: [], roles: [] });

    // Three events at once: the one with content is not batched with the others.
    const withContent = { ...issueCreated, data: { issue: { ...(issueCreated.data as { issue: object }).issue, shortId: 'PYTHON-2' } } };
    const before = h.discord.messagesIn(allowed.channelId).length;
    await Promise.all([
      h.postEvent(allowed, 'issue', issueResolved),
      h.postEvent(allowed, 'issue', withContent),
      h.postEvent(allowed, 'error', errorCreated),
    ]);
    await h.discord.waitForMessages(4, allowed.channelId);
    const later = h.discord.messagesIn(allowed.channelId).slice(before);
    for (const message of later) if (message.content) expect(message.embeds).toHaveLength(1);
  });
});
