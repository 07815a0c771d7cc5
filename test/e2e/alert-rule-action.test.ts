import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoute, deleteRoute, updateRoute } from '../../src/db/routes.js';
import type { Route } from '../../src/db/schema.js';
import { setSourceEnabled, setSourceSecret } from '../../src/db/sources.js';
import { asChannelId } from '../../src/ids.js';
import { MISSING_ROUTE_LINE } from '../../src/routing/select-routes.js';
import { alertRuleActionSchema, sentryUiUri, type SentryUiEndpoint } from '../../src/sentry/ui-schema.js';
import { sign } from '../../src/sentry/verify.js';
import { deliveriesOfEvent } from '../support/db.js';
import { PERMISSIONS, snowflake, type FakeChannel, type PostedMessage } from '../support/fake-discord.js';
import { startHarness, testGuild, waitFor, type Harness, type TestSource } from '../support/harness.js';
import { admin, answeredEphemerally, answerOf, shownText, slash, str, type Member } from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { selectRequest, send, settingsRequest, shownInSentry } from '../support/sentry-ui.js';

/**
 * Picking the channel from Sentry's own alert rule form (issue #23), end to end: the schema from
 * the command, Sentry's option and settings requests as its requesters build them, then alerts
 * whose settings name a route; beside a second server with its own source, route and roles, and
 * with a route removed between the rule's save and its alert.
 */

const SECRET = 'ui-client-secret';
const OTHER_SECRET = 'other-client-secret';
const APP = 'Acme Dispatch';
const channel = (name: string, deny?: bigint): FakeChannel => ({ id: snowflake(), name, type: 0, ...(deny ? { deny } : {}) });
const channels = {
  payments: channel('payments-alerts'),
  muted: channel('muted', PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks),
  noThreads: channel('no-threads', PERMISSIONS.CreatePublicThreads),
};
const roles = {
  payments: { id: snowflake(), name: 'payments', mentionable: true },
  quiet: { id: snowflake(), name: 'quiet', mentionable: false },
  elsewhere: { id: snowflake(), name: 'elsewhere', mentionable: true },
};

let h: Harness;
let alice: Member;
let bob: Member;
let backend: TestSource;
let other: TestSource;
let payments: Route;
let temp: Route;
let muted: Route;
let noThreads: Route;

const uri = (source: TestSource, endpoint: SentryUiEndpoint) => sentryUiUri(h.config.publicUrl, source.slug, endpoint);
const webhookOf = (source: TestSource) => `${h.dispatch.url}/hooks/${source.slug}`;
const options = (source: TestSource, endpoint: 'routes' | 'roles', secret: string | undefined, query?: string) =>
  send(selectRequest(webhookOf(source), uri(source, endpoint), secret, { projectSlug: 'checkout', ...(query ? { query } : {}) }));
/** The settings check as Sentry sends it; `null` sends it unsigned. */
const settings = (source: TestSource, fields: { name: string; value: unknown }[], secret: string | null = SECRET, signWith?: string) =>
  send(settingsRequest(webhookOf(source), uri(source, 'settings'), secret ?? undefined, fields, { signWith }));
const choose = (route: { id: number } | string, role?: string, note?: string) => [
  { name: 'dispatch_route', value: typeof route === 'string' ? route : String(route.id) },
  ...(role !== undefined ? [{ name: 'dispatch_ping_role', value: role }] : []),
  ...(note !== undefined ? [{ name: 'dispatch_note', value: note }] : []),
];

beforeAll(async () => {
  const acme = testGuild('Acme');
  acme.channels.push(channels.payments, channels.muted, channels.noThreads);
  acme.roles = [roles.payments, roles.quiet];
  const elsewhere = testGuild('Elsewhere');
  elsewhere.roles = [roles.elsewhere];
  h = await startHarness({ discord: { guilds: [acme, elsewhere] }, env: { BATCH_LINGER: '20ms' }, captureLogs: true });
  h.guild = acme;
  alice = admin(acme);
  bob = admin(elsewhere);
  // Filters that keep every alert out: whatever reaches a route below, the rule's settings sent it.
  const issuesOnly = JSON.stringify({ events: ['issue.*'] });
  backend = await h.addSource({ name: 'backend', secret: SECRET, channelId: acme.channels[0]!.id });
  await updateRoute(h.dispatch.db, backend.route, { filter: issuesOnly }, Date.now());
  const route = (name: string, channelId: string, layout: 'card' | 'feed') =>
    createRoute(
      h.dispatch.db,
      {
        sourceId: backend.id,
        name,
        channelId: asChannelId(channelId),
        layout,
        filter: issuesOnly,
        pingRoleId: null,
        pingLevel: 'error',
        createdBy: '1',
      },
      Date.now(),
    );
  payments = await route('payments', channels.payments.id, 'card');
  temp = await route('temp', acme.channels[1]!.id, 'feed');
  muted = await route('quiet-room', channels.muted.id, 'feed');
  noThreads = await route('ops', channels.noThreads.id, 'card');
  other = await h.addSource({ name: 'backend', secret: OTHER_SECRET, guildId: elsewhere.id, channelId: elsewhere.channels[0]!.id });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
});
afterAll(async () => {
  await h?.close();
});

describe('/dispatch source schema', () => {
  it("answers, only to the member, the JSON to paste in the integration's Schema field, naming this source", async () => {
    const asked = slash(alice, 'schema', [str('source', 'backend')]);
    const reply = await answerOf(h.discord, asked);
    expect(answeredEphemerally(h.discord, asked)).toBe(true);
    const text = shownText(reply);
    const json = reply.files?.[0]?.content ?? /```json\n([\s\S]*)\n```/.exec(text)?.[1];
    expect(JSON.parse(json!)).toEqual(alertRuleActionSchema(h.config.publicUrl, backend.slug));
    expect(text).toContain('Schema');
    expect(text).toContain('Alert Rule Action');
    // The other server's source of the same name is its own: its schema carries its own slug.
    const theirs = await answerOf(h.discord, slash(bob, 'schema', [str('source', 'backend')]));
    expect(shownText(theirs) + (theirs.files?.[0]?.content ?? '')).toContain(other.slug);
    expect(shownText(theirs) + (theirs.files?.[0]?.content ?? '')).not.toContain(backend.slug);
  });
});

describe('the Route and Ping role selects', () => {
  it("are signed like Sentry's requester (HMAC of an empty string) and list only this source's routes", async () => {
    const answer = await options(backend, 'routes', SECRET);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual([
      { label: '#alerts · main', value: String(backend.route.id), default: false },
      { label: '#payments-alerts · payments', value: String(payments.id), default: false },
      { label: '#other · temp', value: String(temp.id), default: false },
      { label: '#muted · quiet-room', value: String(muted.id), default: false },
      { label: '#no-threads · ops', value: String(noThreads.id), default: false },
    ]);
    expect((await options(backend, 'routes', SECRET, 'pay')).json.map((o: { label: string }) => o.label)).toEqual([
      '#payments-alerts · payments',
    ]);
    const theirs = await options(other, 'routes', OTHER_SECRET);
    expect(theirs.json).toEqual([{ label: '#alerts · main', value: String(other.route.id), default: false }]);
  });

  it('refuse a missing, malformed or wrong signature with 401 and the reason, listing nothing', async () => {
    const expectRefused = (answer: { status: number; json: any; text: string }, reason: string) => {
      expect(answer.status).toBe(401);
      expect(answer.json.message).toContain(reason);
      expect(answer.text).not.toContain('payments');
      expect(answer.text).not.toContain(SECRET);
      expect(answer.text).not.toMatch(/\bat \w+ \(/); // no stack trace
    };
    expectRefused(await options(backend, 'routes', undefined), 'missing signature');
    expectRefused(await options(backend, 'roles', OTHER_SECRET), 'signature mismatch');
    const request = selectRequest(webhookOf(backend), uri(backend, 'routes'), SECRET);
    // Signed over the URL rather than the empty string Sentry signs: not Sentry's signature.
    (request.init.headers as Record<string, string>)['Sentry-App-Signature'] = sign(request.url, SECRET);
    expectRefused(await send(request), 'signature mismatch');
    (request.init.headers as Record<string, string>)['Sentry-App-Signature'] = 'zz';
    expectRefused(await send(request), 'malformed signature');
  });

  it('the roles are the source server’s mentionable ones, plus none; Discord failing costs the roles, not the answer', async () => {
    const mine = await options(backend, 'roles', SECRET);
    expect(mine.json).toEqual([
      { label: 'No ping', value: 'none', default: false },
      { label: '@payments', value: roles.payments.id, default: false },
    ]);
    // The other server's, first read while Discord fails: the form still opens, without roles.
    h.discord.injectReads([{ status: 503, body: { message: 'Service Unavailable', code: 0 } }]);
    expect((await options(other, 'roles', OTHER_SECRET)).json).toEqual([{ label: 'No ping', value: 'none', default: false }]);
    expect((await options(other, 'roles', OTHER_SECRET)).json).toEqual([
      { label: 'No ping', value: 'none', default: false },
      { label: '@elsewhere', value: roles.elsewhere.id, default: false },
    ]);
  });

  it('list at most 100 options, the highest roles first', async () => {
    const big = testGuild('Big');
    big.roles = Array.from({ length: 150 }, (_, i) => ({ id: snowflake(), name: `team-${i}`, mentionable: true }));
    h.discord.guilds.push(big);
    const source = await h.addSource({ name: 'big', secret: SECRET, guildId: big.id, channelId: big.channels[0]!.id });
    const answer = await options(source, 'roles', SECRET);
    expect(answer.json).toHaveLength(100);
    expect(answer.json.slice(0, 2).map((o: { label: string }) => o.label)).toEqual(['No ping', '@team-149']);
    expect((await options(source, 'roles', SECRET, 'team-14')).json).toHaveLength(11);
  });

  it('an unknown source is 404, another method 405, both with a message Sentry can show', async () => {
    const unknown = await send({ url: `${h.dispatch.url}/sentry-ui/${'x'.repeat(32)}/routes`, init: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toMatch(/no source/);
    const put = await send({ url: `${h.dispatch.url}${uri(backend, 'routes')}`, init: { method: 'PUT' } });
    expect(put.status).toBe(405);
    expect(put.json.message).toBeDefined();
  });
});

const acceptedRoles = async (sourceId: number) =>
  (await h.dispatch.db.all<{ role_id: string }>(sql`select role_id from alert_ping_roles where source_id = ${sourceId}`)).map(
    (r) => r.role_id,
  );

describe('the settings check when a rule is saved', () => {
  it('accepts a route of this source the bot can post in, with a role of its server, and records the role', async () => {
    const answer = await settings(backend, choose(payments, roles.payments.id, 'Checkout p95 over 2 s'));
    expect(answer.status).toBe(200);
    expect(answer.json.message).toContain('#payments-alerts');
    expect(await acceptedRoles(backend.id)).toEqual([roles.payments.id]);
    expect((await settings(backend, choose(backend.route, 'none'))).status).toBe(200);
  });

  it('refuses, in one sentence Sentry shows, what Dispatch cannot do, and records nothing', async () => {
    const refusals: [Awaited<ReturnType<typeof settings>>, number, string][] = [
      [
        await settings(backend, choose(other.route)),
        400,
        `${APP}: That route is not one of this Dispatch source’s routes (removed, or another source’s): pick one from the list.`,
      ],
      [await settings(backend, choose(payments, roles.elsewhere.id)), 400, 'not a role of this Discord server'],
      [await settings(backend, choose(payments, backend.guildId)), 400, 'not a role of this Discord server'],
      [await settings(backend, choose(payments, roles.quiet.id)), 400, 'Dispatch cannot ping @quiet in #payments-alerts'],
      [await settings(backend, choose(muted)), 400, `${APP}: Dispatch cannot post in #muted: missing Send Messages, Embed Links.`],
      [await settings(backend, choose(payments, undefined, 'x'.repeat(501))), 400, 'The note is 501 characters long'],
      [await settings(backend, [{ name: 'dispatch_note', value: 'hi' }]), 400, 'Pick a Route'],
      [await settings(backend, choose(payments), null), 401, 'missing signature'],
      [await settings(backend, choose(payments), SECRET, '{"fields":[]}'), 401, 'signature mismatch'],
    ];
    for (const [answer, status, shown] of refusals) {
      expect(answer.status, shown).toBe(status);
      expect(shownInSentry(APP, answer)).toContain(shown);
    }
    const notJson = await send({
      url: `${h.dispatch.url}${uri(backend, 'settings')}`,
      init: { method: 'POST', body: 'fields=1', headers: { 'Sentry-App-Signature': sign('fields=1', SECRET) } },
    });
    expect([notJson.status, notJson.json.message]).toEqual([400, 'Dispatch could not read these settings: the request is not JSON.']);
    expect(await acceptedRoles(backend.id)).toEqual([roles.payments.id]);

    await setSourceEnabled(h.dispatch.db, backend, false, Date.now());
    const disabled = await settings(backend, choose(backend.route));
    await setSourceEnabled(h.dispatch.db, backend, true, Date.now());
    expect(disabled.status).toBe(400);
    expect(shownInSentry(APP, disabled)).toBe(
      `${APP}: Route #alerts · main is disabled in Dispatch: its source is disabled (/dispatch source enable).`,
    );
  });

  it('a source without a signing secret refuses the check, so that no unsigned request can make a role pingable', async () => {
    const open = await h.addSource({ name: 'no-secret', secret: null });
    // Not Sentry: anyone who has the webhook URL, no signature.
    const answer = await settings(open, choose(open.route, roles.payments.id), null);
    expect(answer.status).toBe(401);
    expect(shownInSentry(APP, answer)).toBe(
      `${APP}: Dispatch checks alert rule settings only when they are signed: set the signing secret with /dispatch source secret.`,
    );
    expect(await acceptedRoles(open.id)).toEqual([]);
  });

  it("another server's source accepts its own role, for itself only", async () => {
    expect((await settings(other, choose(other.route, roles.elsewhere.id), OTHER_SECRET)).status).toBe(200);
    expect((await settings(other, choose(other.route, roles.payments.id), OTHER_SECRET)).status).toBe(400);
    expect(await acceptedRoles(other.id)).toEqual([roles.elsewhere.id]);
  });
});

const issueAlert = loadFixture('example-app-mocks/event_alert.triggered.with_alert_rule_action.json') as any;
const metricAlert = loadFixture('example-app-mocks/metric_alert.critical.with_alert_rule_action.json') as any;

/** The issue alert of Sentry's example app, its settings ours; `marker` in its title. */
function issueAlertWith(marker: string, fields: { name: string; value: unknown }[]) {
  return {
    ...issueAlert,
    data: {
      ...issueAlert.data,
      event: { ...issueAlert.data.event, issue_id: marker, title: marker, metadata: { type: marker, value: marker } },
      issue_alert: { ...issueAlert.data.issue_alert, title: `rule ${marker}`, settings: fields },
    },
  };
}

type MetricAction = 'critical' | 'warning' | 'resolved';
type Fields = { name: string; value: unknown }[];
const exampleRule = metricAlert.data.metric_alert.alert_rule;

/** A metric alert of the rule `name` about `incident`, its triggers' actions as Sentry lists them (every action of every trigger). */
function metricAlertOf(name: string, action: MetricAction, incident: string, triggers: { label: string; actions: unknown[] }[]) {
  return {
    ...metricAlert,
    action,
    data: {
      ...metricAlert.data,
      description_title: `${name} ${action}`,
      metric_alert: { ...metricAlert.data.metric_alert, id: incident, alert_rule: { ...exampleRule, name, triggers } },
    },
  };
}
/** A "Send to Discord via Dispatch" action of a rule: `sentry_app`, with the fields chosen in it. */
const dispatchAction = (fields: Fields) => ({ type: 'sentry_app', settings: fields });

/** The example app's metric alert: our action in the critical trigger, another app's in the warning one. */
const checkoutLatency = (action: MetricAction, fields: Fields, incident = '4242') =>
  metricAlertOf('checkout-latency', action, incident, [
    { label: 'critical', actions: [{ type: 'email', settings: null }, dispatchAction(fields)] },
    { label: 'warning', actions: [exampleRule.triggers[1].actions[0]] },
  ]);

async function postTo(source: TestSource, resource: string, payload: Record<string, unknown>): Promise<string> {
  const response = await h.post(source.slug, sentryRequest(resource, payload, source.signingSecret!));
  expect(response.status).toBe(202);
  return ((await response.json()) as { event_id: string }).event_id;
}

/** Waits until the worker has handled the event on each of its routes. */
async function handled(eventId: string) {
  await expect
    .poll(async () =>
      (await deliveriesOfEvent(h.dispatch.db, eventId)).map((d) => d.status).filter((s) => s === 'pending' || s === 'sending'),
    )
    .toEqual([]);
  return deliveriesOfEvent(h.dispatch.db, eventId);
}

const showing = (marker: string) => (m: PostedMessage) => JSON.stringify(m.embeds).includes(marker);
const fieldsOf = (message: PostedMessage) => (message.embeds[0]!.fields ?? []) as { name: string; value: string }[];

describe('alerts routed by their own settings', () => {
  it('an issue alert naming a route goes there alone, past a filter that would drop it, with its note escaped and no ping of its own', async () => {
    const note = 'Page <@&' + roles.payments.id + '> @everyone **now**';
    const eventId = await postTo(backend, 'event_alert', issueAlertWith('ISSUE-ROUTED', choose(backend.route, 'none', note)));
    const [delivery, ...more] = await handled(eventId);
    expect(more).toEqual([]);
    expect(delivery).toMatchObject({ routeId: backend.route.id, status: 'delivered' });
    const message = await h.discord.waitForMessage(showing('ISSUE-ROUTED'));
    expect(message.channel_id).toBe(backend.channelId);
    expect(fieldsOf(message).find((f) => f.name === 'Note')?.value).toBe(
      `Page \\<@&${roles.payments.id}\\> @\u200beveryone \\*\\*now\\*\\*`,
    );
    expect(message.content ?? '').toBe('');
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [] });
  });

  it('the checkout-latency metric alert pings @payments in #payments-alerts: a card, then its thread, never the resolution', async () => {
    const fields = choose(payments, roles.payments.id, 'Checkout p95 over 2 s');
    const critical = await postTo(backend, 'metric_alert', checkoutLatency('critical', fields));
    expect((await handled(critical)).map((d) => d.routeId)).toEqual([payments.id]);
    const card = await h.discord.waitForMessage(showing('checkout-latency critical'));
    expect(card.channel_id).toBe(channels.payments.id);
    expect(card.content).toBe(`<@&${roles.payments.id}>`);
    expect(card.allowed_mentions).toEqual({ parse: [], roles: [roles.payments.id] });
    expect(fieldsOf(card).find((f) => f.name === 'Note')?.value).toBe('Checkout p95 over 2 s');

    // The warning's own trigger is another app's: ours is read from the critical one, and the edit pings in the card's thread.
    const warning = await postTo(backend, 'metric_alert', checkoutLatency('warning', fields));
    expect((await handled(warning)).map((d) => d.routeId)).toEqual([payments.id]);
    const line = await h.discord.waitForMessage((m) => m.channel_id === card.id && /Warning/.test(m.content ?? ''));
    expect(line.content).toMatch(new RegExp(`^<@&${roles.payments.id}>\\n`));
    expect(line.allowed_mentions).toEqual({ parse: [], roles: [roles.payments.id] });

    const resolved = await postTo(backend, 'metric_alert', checkoutLatency('resolved', fields));
    await handled(resolved);
    const calm = await h.discord.waitForMessage((m) => m.channel_id === card.id && /Resolved/.test(m.content ?? ''));
    expect(calm.content).not.toContain('<@&');
    expect(calm.allowed_mentions).toEqual({ parse: [], roles: [] });
    expect(h.discord.messagesIn(backend.channelId).some(showing('checkout-latency'))).toBe(false);
  });

  it('on a card route without threads, an alert that edits the card posts it again, with the ping', async () => {
    const fields = choose(noThreads, roles.payments.id);
    await handled(await postTo(backend, 'metric_alert', checkoutLatency('critical', fields, '5151')));
    const first = h.discord.messagesIn(channels.noThreads.id);
    expect(first.map((m) => m.content)).toEqual([`<@&${roles.payments.id}>`]);
    await handled(await postTo(backend, 'metric_alert', checkoutLatency('warning', fields, '5151')));
    await expect.poll(() => h.discord.messagesIn(channels.noThreads.id).length).toBe(2);
    const again = h.discord.messagesIn(channels.noThreads.id)[1]!;
    expect(again.content).toBe(`<@&${roles.payments.id}>`);
    expect(again.allowed_mentions).toEqual({ parse: [], roles: [roles.payments.id] });
    expect(JSON.stringify(again.embeds)).toContain('checkout-latency warning');
  });

  it('the dry run replays stored alerts by their settings too', async () => {
    const dry = shownText(await answerOf(h.discord, slash(alice, 'test', [str('source', 'backend')], 'route')));
    expect(dry).toContain('"name":"ops → would post 2"');
  });

  it('a route removed between the rule’s save and its alert: the first route takes it, saying why', async () => {
    expect((await settings(backend, choose(temp, roles.payments.id))).status).toBe(200);
    await deleteRoute(h.dispatch.db, temp, Date.now());
    const eventId = await postTo(backend, 'event_alert', issueAlertWith('ROUTE-GONE', choose(temp, roles.payments.id)));
    expect((await handled(eventId)).map((d) => [d.routeId, d.status])).toEqual([[backend.route.id, 'delivered']]);
    const message = await h.discord.waitForMessage(showing('ROUTE-GONE'));
    expect(message.channel_id).toBe(backend.channelId);
    expect(fieldsOf(message)[0]).toEqual({ name: '⚠️ Route', value: MISSING_ROUTE_LINE, inline: undefined });
    // The role was accepted for this source: the alert still pings it.
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [roles.payments.id] });
  });

  it("another server's route and role are unknown here: the first route takes the alert, and nobody is pinged", async () => {
    const before = h.discord.messagesIn(other.channelId).length;
    const eventId = await postTo(backend, 'event_alert', issueAlertWith('CROSS-SERVER', choose(other.route, roles.elsewhere.id)));
    expect((await handled(eventId)).map((d) => d.routeId)).toEqual([backend.route.id]);
    const message = await h.discord.waitForMessage(showing('CROSS-SERVER'));
    expect(message.channel_id).toBe(backend.channelId);
    expect(JSON.stringify(message.embeds)).toContain(MISSING_ROUTE_LINE);
    // @elsewhere was accepted, but for the other server's source.
    expect(message.content ?? '').toBe('');
    expect(message.allowed_mentions).toEqual({ parse: [], roles: [] });
    // A role never checked (typed into a payload) pings nobody either.
    const forged = await postTo(backend, 'event_alert', issueAlertWith('FORGED-ROLE', choose(backend.route, roles.quiet.id)));
    await handled(forged);
    expect((await h.discord.waitForMessage(showing('FORGED-ROLE'))).allowed_mentions).toEqual({ parse: [], roles: [] });
    expect(h.discord.messagesIn(other.channelId).length).toBe(before);
  });

  it('on a source without a signing secret, an unsigned alert naming a role pings nobody, even a role accepted before the secret was cleared', async () => {
    const open = await h.addSource({ name: 'cleared', secret: 'soon-cleared' });
    expect((await settings(open, choose(open.route, roles.payments.id), 'soon-cleared')).status).toBe(200);
    expect(await acceptedRoles(open.id)).toEqual([roles.payments.id]);
    const cleared = await setSourceSecret(h.dispatch.db, open, null, Date.now());
    const response = await h.postEvent(cleared, 'event_alert', issueAlertWith('UNSIGNED-PING', choose(open.route, roles.payments.id)));
    expect(response.status).toBe(202);
    await handled(((await response.json()) as { event_id: string }).event_id);
    const message = await h.discord.waitForMessage(showing('UNSIGNED-PING'));
    expect({ content: message.content ?? '', pinged: message.allowed_mentions }).toEqual({ content: '', pinged: { parse: [], roles: [] } });
  });

  it('alerts without our settings are routed by filters exactly as before', async () => {
    const plain = { ...issueAlert, data: { ...issueAlert.data, issue_alert: { ...issueAlert.data.issue_alert, title: 'PLAIN' } } };
    const eventId = await postTo(backend, 'event_alert', plain);
    const stored = await h.dispatch.db.get<{ filtered_by: string }>(sql`select filtered_by from events where id = ${eventId}`);
    expect(JSON.parse(stored!.filtered_by).sort()).toEqual([backend.route.id, payments.id, muted.id, noThreads.id].sort());
    expect(await deliveriesOfEvent(h.dispatch.db, eventId)).toEqual([]);
  });

  it('logs no secret, signature or note', async () => {
    const logs = h.logLines.join('');
    for (const secret of [SECRET, OTHER_SECRET, sign('', SECRET), 'Checkout p95', backend.slug, other.slug])
      expect(logs).not.toContain(secret);
    expect(logs).toContain('alert rule settings refused');
  });
});

describe('a metric alert rule with several Dispatch actions', () => {
  it("notifying two Dispatch sources of one Sentry organization: each takes its own action's route and note, not the other's", async () => {
    // One rule, its critical trigger: the other team's "Send to Discord via Dispatch", then this source's.
    const triggers = [
      {
        label: 'critical',
        actions: [
          dispatchAction(choose(other.route, 'none', 'other team: call Bob')),
          dispatchAction(choose(payments, 'none', 'backend team')),
        ],
      },
    ];
    const mine = await postTo(backend, 'metric_alert', metricAlertOf('latency-7001', 'critical', '7001', triggers));
    const theirs = await postTo(other, 'metric_alert', metricAlertOf('latency-7001', 'critical', '7001', triggers));
    expect((await handled(mine)).map((d) => d.routeId)).toEqual([payments.id]);
    expect((await handled(theirs)).map((d) => d.routeId)).toEqual([other.route.id]);
    const shown = async (channelId: string) => {
      const card = await h.discord.waitForMessage((m) => m.channel_id === channelId && showing('latency-7001')(m));
      return {
        note: fieldsOf(card).find((f) => f.name === 'Note')?.value,
        warned: JSON.stringify(card.embeds).includes(MISSING_ROUTE_LINE),
      };
    };
    expect(await shown(channels.payments.id)).toEqual({ note: 'backend team', warned: false });
    expect(await shown(other.channelId)).toEqual({ note: 'other team: call Bob', warned: false });
  });

  it('an incident whose triggers name two routes: its resolution reaches the card each opened', async () => {
    const ops = channel('ops');
    h.guild.channels.push(ops);
    const opsRoute = await createRoute(
      h.dispatch.db,
      {
        sourceId: backend.id,
        name: 'ops-fyi',
        channelId: asChannelId(ops.id),
        layout: 'card',
        filter: '{}',
        pingRoleId: null,
        pingLevel: 'error',
        createdBy: '1',
      },
      Date.now(),
    );
    // Page on critical in #payments-alerts, tell #ops on warning.
    const triggers = [
      { label: 'critical', actions: [dispatchAction(choose(payments))] },
      { label: 'warning', actions: [dispatchAction(choose(opsRoute))] },
    ];
    const incident = (action: MetricAction) => metricAlertOf('latency-7002', action, '7002', triggers);
    expect((await handled(await postTo(backend, 'metric_alert', incident('warning')))).map((d) => d.routeId)).toEqual([opsRoute.id]);
    expect((await handled(await postTo(backend, 'metric_alert', incident('critical')))).map((d) => d.routeId)).toEqual([payments.id]);
    const resolved = await handled(await postTo(backend, 'metric_alert', incident('resolved')));
    expect(resolved.map((d) => d.routeId).sort()).toEqual([payments.id, opsRoute.id].sort());
    const statusIn = (channelId: string) => {
      const card = h.discord.messagesIn(channelId).find(showing('latency-7002'));
      return card && fieldsOf(card).find((f) => f.name === 'Status')?.value;
    };
    await expect
      .poll(() => ({ payments: statusIn(channels.payments.id), ops: statusIn(ops.id) }))
      .toEqual({ payments: 'resolved', ops: 'resolved' });
    await deleteRoute(h.dispatch.db, opsRoute, Date.now());
  });
});
