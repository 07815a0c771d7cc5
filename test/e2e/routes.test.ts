import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { ensureDmRoutes } from '../../src/db/dm-routes.js';
import { saveLink } from '../../src/db/member-links.js';
import { findSource } from '../../src/db/sources.js';
import { PERMISSIONS, snowflake, type FakeChannel, type PostedMessage } from '../support/fake-discord.js';
import { startHarness, testGuild, waitFor, type Harness } from '../support/harness.js';
import {
  admin,
  answerOf,
  button,
  chan,
  messageOf,
  modalSubmit,
  role,
  shownText,
  slash,
  str,
  type Member,
} from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { asChannelId, asGuildId, asUserId } from '../../src/ids.js';

let h: Harness;
let alice: Member;
const channel = (name: string): FakeChannel => ({ id: snowflake(), name, type: 0 });
const channels = { sentry: channel('sentry'), alerts: channel('alerts'), seer: channel('seer'), moved: channel('moved') };
const oncall = { id: snowflake(), name: 'oncall', mentionable: true };
const quiet = { id: snowflake(), name: 'quiet', mentionable: false };
let slug: string;

beforeAll(async () => {
  const guild = testGuild('Acme');
  guild.channels.push(...Object.values(channels));
  guild.roles = [oncall, quiet];
  h = await startHarness({ discord: { guilds: [guild] }, env: { BATCH_LINGER: '20ms' } });
  h.guild = guild;
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = admin(guild);
});
afterAll(async () => {
  await h?.close();
});

const route = (sub: string, options: Parameters<typeof slash>[2]) => answerOf(h.discord, slash(alice, sub, options, 'route'));

/** Each fixture with a marker in a field its embed shows, so the test can tell where each went. */
const error = loadFixture('error.created.json') as { data: { error: Record<string, unknown> } };
const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
const errorIn = (marker: string, environment: string) => ({
  ...error,
  data: { error: { ...error.data.error, environment, exception: { values: [{ type: 'MarkedError', value: marker }] } } },
});
const issueAt = (marker: string, level: string) => ({ ...issue, data: { issue: { ...issue.data.issue, title: marker, level } } });
const seer = loadFixture('seer.root_cause_completed.json') as { data: Record<string, unknown> };
const comment = loadFixture('comment.created.json') as { data: Record<string, unknown> };
const metric = loadFixture('metric_alert.resolved.json') as { data: Record<string, unknown> };
const EVENTS: [string, string, Record<string, unknown>][] = [
  ['PROD-ERROR', 'error', errorIn('PROD-ERROR', 'production')],
  ['STAGING-ERROR', 'error', errorIn('STAGING-ERROR', 'staging')],
  ['FATAL-ISSUE', 'issue', issueAt('FATAL-ISSUE', 'fatal')],
  ['WARNING-ISSUE', 'issue', issueAt('WARNING-ISSUE', 'warning')],
  ['SEER-CAUSE', 'seer', { ...seer, data: { ...seer.data, group_id: 'SEER-CAUSE' } }],
  ['A-COMMENT', 'comment', { ...comment, data: { ...comment.data, comment: 'A-COMMENT' } }],
  ['METRIC', 'metric_alert', { ...metric, data: { ...metric.data, description_title: 'METRIC' } }],
];

const markersIn = (messages: PostedMessage[]) =>
  messages.flatMap((m) => m.embeds.map((e) => EVENTS.find(([marker]) => JSON.stringify(e).includes(marker))?.[0] ?? '?'));

describe('routes, end to end', () => {
  it('one source, three routes: each channel gets exactly what its filter passes, and the role is pinged only at its level', async () => {
    const opened = await answerOf(
      h.discord,
      slash(alice, 'create', [str('name', 'backend'), chan('channel', channels.sentry.id), str('layout', 'feed')]),
    );
    const created = await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret: 'route-secret' }));
    slug = /\/hooks\/([A-Za-z0-9_-]{32})/.exec(shownText(created))![1]!;

    const main = await route('edit', [str('source', 'backend'), str('route', 'main'), str('events', '*, !seer.*')]);
    expect(shownText(main)).toContain('events \\*, !seer.\\*');
    const alerts = await route('add', [
      str('source', 'backend'),
      str('name', 'alerts'),
      chan('channel', channels.alerts.id),
      str('events', 'error.*, issue.*'),
      str('environments', 'production'),
      str('min-level', 'error'),
      role('ping', oncall.id),
      str('ping-level', 'fatal'),
      str('layout', 'feed'),
    ]);
    expect(shownText(alerts)).toContain(`pings <@&${oncall.id}> at fatal and above`);
    expect(shownText(alerts)).not.toContain('cannot mention');
    await route('add', [
      str('source', 'backend'),
      str('name', 'seer'),
      chan('channel', channels.seer.id),
      str('events', 'seer.*'),
      str('layout', 'feed'),
    ]);

    for (const [, resource, payload] of EVENTS)
      expect((await h.post(slug, sentryRequest(resource, payload, 'route-secret'))).status).toBe(202);
    await h.discord.waitForMessages(6, channels.sentry.id);
    await h.discord.waitForMessages(2, channels.alerts.id);
    await h.discord.waitForMessages(1, channels.seer.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(markersIn(h.discord.messagesIn(channels.sentry.id))).toEqual([
      'PROD-ERROR',
      'STAGING-ERROR',
      'FATAL-ISSUE',
      'WARNING-ISSUE',
      'A-COMMENT',
      'METRIC',
    ]);
    expect(markersIn(h.discord.messagesIn(channels.alerts.id))).toEqual(['PROD-ERROR', 'FATAL-ISSUE']);
    expect(markersIn(h.discord.messagesIn(channels.seer.id))).toEqual(['SEER-CAUSE']);

    // Only the fatal issue pings, and only @oncall; nothing else anywhere mentions anyone.
    for (const message of h.discord.messages) {
      const fatal = markersIn([message]).includes('FATAL-ISSUE') && message.channel_id === channels.alerts.id;
      expect(message.content ?? '').toBe(fatal ? `<@&${oncall.id}>` : '');
      expect(message.allowed_mentions).toEqual({ parse: [], roles: fatal ? [oncall.id] : [] });
    }
  });

  it('the dry run counts what each route would post, and its figures match the real send', async () => {
    const dry = shownText(await route('test', [str('source', 'backend')]));
    const count = (name: string) => Number(new RegExp(`"name":"${name} → would post (\\d+)"`).exec(dry)?.[1]);
    expect(count('main')).toBe(markersIn(h.discord.messagesIn(channels.sentry.id)).length);
    expect(count('alerts')).toBe(markersIn(h.discord.messagesIn(channels.alerts.id)).length);
    expect(count('seer')).toBe(markersIn(h.discord.messagesIn(channels.seer.id)).length);
    expect(dry).toContain('Nothing was posted');
  });

  it('counts what each filter kept out, in route list and the log', async () => {
    const list = shownText(await route('list', [str('source', 'backend')]));
    expect(list).toMatch(/filtered out 1/); // main kept out the Seer event
    expect(list).toMatch(/filtered out 5/); // alerts kept out five
    const log = shownText(await answerOf(h.discord, slash(alice, 'log', [str('source', 'backend')])));
    expect(log).toContain('filtered out by main');
  });

  it('source info counts events received and deliveries posted apart: an event is delivered once per route that takes it', async () => {
    const info = await answerOf(h.discord, slash(alice, 'info', [str('source', 'backend')]));
    const fields = messageOf(info).embeds[0].fields as { name: string; value: string }[];
    const value = (name: string) => fields.find((f) => f.name === name)?.value;
    expect(value('Events received')).toBe(String(EVENTS.length));
    const posted = [channels.sentry, channels.alerts, channels.seer].reduce((n, c) => n + markersIn(h.discord.messagesIn(c.id)).length, 0);
    expect(value('Deliveries posted')).toBe(String(posted));
    expect(posted).toBeGreaterThan(EVENTS.length);
    expect(messageOf(info).embeds[0].footer.text).toBe('An event is received once and delivered once to each route that takes it.');
  });

  it('refuses an invalid filter, naming the part that is wrong, and changes nothing', async () => {
    const badEvents = await route('add', [
      str('source', 'backend'),
      str('name', 'bad'),
      chan('channel', channels.alerts.id),
      str('events', 'issue.created, Issue.Created!'),
    ]);
    expect(shownText(badEvents)).toContain('`events`: "Issue.Created!" is not an event pattern');
    const badTags = await route('edit', [str('source', 'backend'), str('route', 'alerts'), str('tags', 'customer')]);
    expect(shownText(badTags)).toContain('`tags`: "customer" is not a `key=value` pair');
    const unknown = await route('edit', [str('source', 'backend'), str('route', 'nope'), str('events', '*')]);
    expect(shownText(unknown)).toContain('has no route named "nope"');
    const list = shownText(await route('list', [str('source', 'backend')]));
    expect(list).not.toContain('"name":"bad"');
    expect(list).toContain('environments production');
  });

  it('warns when the bot cannot mention the role a route pings', async () => {
    const edited = await route('edit', [str('source', 'backend'), str('route', 'seer'), role('ping', quiet.id)]);
    expect(shownText(edited)).toContain(`The bot cannot mention <@&${quiet.id}>`);
    const everyone = await route('edit', [str('source', 'backend'), str('route', 'seer'), role('ping', h.guild.id)]);
    expect(shownText(everyone)).toContain('cannot ping @everyone');
  });

  it('source edit renames and moves the first route: the URL stays, and events still waiting go to the new channel', async () => {
    channels.sentry.deny = PERMISSIONS.SendMessages; // #sentry refuses: the next events wait there, on hold
    const waiting = issueAt('WAITING-1', 'info');
    expect((await h.post(slug, sentryRequest('issue', waiting, 'route-secret'))).status).toBe(202);
    await expect.poll(() => h.discord.messageRequests(channels.sentry.id).at(-1)?.status).toBe(403);
    const edited = await answerOf(
      h.discord,
      slash(alice, 'edit', [str('source', 'backend'), str('name', 'api'), chan('channel', channels.moved.id)]),
    );
    expect(shownText(edited)).toContain('**backend** is now **api**');
    expect(shownText(edited)).toContain(`now posts in <#${channels.moved.id}>`);
    const moved = await h.discord.waitForMessage((m) => m.channel_id === channels.moved.id);
    expect(JSON.stringify(moved.embeds)).toContain('WAITING-1');
    // The same URL still works, under the new name.
    const source = (await findSource(h.dispatch.db, asGuildId(h.guild.id), 'api'))!;
    expect(source.slug).toBe(slug);
    expect((await h.post(slug, sentryRequest('issue', issueAt('AFTER-MOVE', 'info'), 'route-secret'))).status).toBe(202);
    await h.discord.waitForMessage((m) => m.channel_id === channels.moved.id && JSON.stringify(m.embeds).includes('AFTER-MOVE'));
  });

  it('removes a route after confirmation, and never the last one', async () => {
    const asked = await route('remove', [str('source', 'api'), str('route', 'seer')]);
    expect(shownText(asked)).toContain('Remove route **seer**');
    const confirm = messageOf(asked).components[0].components[0].custom_id as string;
    const removed = await answerOf(h.discord, button(alice, confirm));
    expect(messageOf(removed).content).toContain('Route **seer** of **api** removed');
    await route('remove', [str('source', 'api'), str('route', 'alerts')]).then((a) =>
      answerOf(h.discord, button(alice, messageOf(a).components[0].components[0].custom_id)),
    );
    const last = await route('remove', [str('source', 'api'), str('route', 'main')]);
    expect(shownText(last)).toContain('is the only route of **api**');
  });
});

describe("a member's DM route is not a route of the server's commands", () => {
  it('route remove, route edit and template set refuse a DM route, by name or by a forged id, and change nothing', async () => {
    const opened = await answerOf(h.discord, slash(alice, 'create', [str('name', 'people'), chan('channel', channels.moved.id)]));
    await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret: 'people-secret' }));
    await route('add', [str('source', 'people'), str('name', 'second'), chan('channel', channels.alerts.id)]);
    const db = h.dispatch.db;
    const source = (await findSource(db, asGuildId(h.guild.id), 'people'))!;
    // Bob's own DMs about this source: a route of kind dm, made as a webhook makes it.
    const bob = snowflake();
    const link = await saveLink(
      db,
      {
        guildId: asGuildId(h.guild.id),
        userId: asUserId(bob),
        baseUrl: 'https://sentry.io',
        org: 'example-org',
        token: 'sealed',
        sentryUserId: '9',
        sentryName: 'Bob',
        sentryEmail: 'bob@example.com',
        scopes: ['event:write'],
        dmChannelId: asChannelId(snowflake()),
      },
      Date.now(),
    );
    const dmRoute = (await ensureDmRoutes(db, source.id, [link.id], Date.now())).get(link.id)!;
    const dmRouteNow = async () => (await db.get<{ removed_at: number | null }>(sql`select removed_at from routes where id = ${dmRoute}`))!;

    // A forged confirmation of route remove naming the DM route's id.
    const removed = await answerOf(h.discord, button(alice, `dispatch:route-del:${dmRoute}:confirm:${Date.now()}`));
    expect(shownText(removed)).toContain('That route no longer exists.');
    expect((await dmRouteNow()).removed_at).toBeNull();

    // A forged template form naming it.
    const templated = await answerOf(
      h.discord,
      modalSubmit(alice, `dispatch:tpl-set:${source.id}:${dmRoute}:${Date.now()}`, { event: '*', template: '{"content": "hi"}' }),
    );
    expect(shownText(templated)).toContain('That route no longer exists.');
    expect(await db.all(sql`select 1 from templates where route_id = ${dmRoute}`)).toEqual([]);

    // By name: unknown to every route command.
    for (const sub of ['remove', 'edit'])
      expect(shownText(await route(sub, [str('source', 'people'), str('route', `dm:${link.id}`), str('events', '*')]))).toContain(
        'has no route named',
      );
    expect((await dmRouteNow()).removed_at).toBeNull();
    expect(shownText(await route('list', [str('source', 'people')]))).not.toContain('dm:');
  });
});

describe('route options a new user trips over', () => {
  let checks: string;

  beforeAll(async () => {
    const opened = await answerOf(
      h.discord,
      slash(alice, 'create', [str('name', 'checks'), chan('channel', channels.seer.id), str('layout', 'feed')]),
    );
    const created = await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { secret: 'checks-secret' }));
    checks = /\/hooks\/([A-Za-z0-9_-]{32})/.exec(shownText(created))![1]!;
    for (const environment of ['production', 'Staging'])
      expect((await h.post(checks, sentryRequest('error', errorIn(`ENV-${environment}`, environment), 'checks-secret'))).status).toBe(202);
  });

  it('ping-level without a role to ping is refused with a sentence saying why, and nothing is added', async () => {
    const refused = await route('add', [
      str('source', 'checks'),
      str('name', 'levels'),
      chan('channel', channels.alerts.id),
      str('ping-level', 'fatal'),
    ]);
    expect(shownText(refused)).toContain('`ping-level` says from which level the route pings its role, and this route pings no role');
    expect(shownText(await route('list', [str('source', 'checks')]))).not.toContain('"name":"levels"');
    const edited = await route('edit', [str('source', 'checks'), str('route', 'main'), str('ping-level', 'fatal')]);
    expect(shownText(edited)).toContain('this route pings no role');
    // With a role, now or already set, it is what it says.
    const withRole = await route('edit', [
      str('source', 'checks'),
      str('route', 'main'),
      role('ping', oncall.id),
      str('ping-level', 'fatal'),
    ]);
    expect(shownText(withRole)).toContain(`pings <@&${oncall.id}> at fatal and above`);
    const levelOnly = await route('edit', [str('source', 'checks'), str('route', 'main'), str('ping-level', 'error')]);
    expect(shownText(levelOnly)).toContain(`pings <@&${oncall.id}> at error and above`);
  });

  it('an events filter that can take no event is saved with a warning that says so', async () => {
    const none = await route('edit', [str('source', 'checks'), str('route', 'main'), str('events', '!*')]);
    expect(shownText(none)).toContain('This route can never take an event: `!*` leaves out every event');
    const covered = await route('edit', [str('source', 'checks'), str('route', 'main'), str('events', 'issue.created, !issue.*')]);
    expect(shownText(covered)).toContain('every pattern it takes (`issue.created`) is also left out');
    const fine = await route('edit', [str('source', 'checks'), str('route', 'main'), str('events', 'issue.*, !issue.resolved')]);
    expect(shownText(fine)).not.toContain('never take an event');
    await route('edit', [str('source', 'checks'), str('route', 'main'), str('events', '-')]);
  });

  it("an environment that differs from the source's recent events only by its case gets a hint", async () => {
    const hinted = await route('edit', [str('source', 'checks'), str('route', 'main'), str('environments', 'Production, staging, qa')]);
    const text = shownText(hinted);
    expect(text).toContain('this source\'s recent events say "production", not "Production"');
    expect(text).toContain('say "Staging", not "staging"');
    expect(text).not.toContain('"qa"'); // never seen in any case: nothing to hint
    const exact = await route('edit', [str('source', 'checks'), str('route', 'main'), str('environments', 'production, Staging')]);
    expect(shownText(exact)).not.toContain('case included');
  });
});
