import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSource } from '../../src/db/sources.js';
import { deployCommands } from '../../src/discord/deploy.js';
import { APP_ID, PERMISSIONS, snowflake, type FakeGuild } from '../support/fake-discord.js';
import { startHarness, testGuild, waitFor, type Harness } from '../support/harness.js';
import {
  admin,
  answeredEphemerally,
  answerAfterAcknowledgement,
  answerOf,
  autocomplete,
  button,
  CALLBACK,
  callbackOf,
  chan,
  interact,
  messageOf,
  modalSubmit,
  plainMember,
  shownText,
  slash,
  str,
  type Member,
} from '../support/interactions.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';
import { asGuildId } from '../../src/ids.js';
import { compiled } from '../support/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EPHEMERAL = 64;
const issueCreated = loadFixture('issue.created.json');

let h: Harness;
let guildB: FakeGuild;
let alice: Member;
let bob: Member;

beforeAll(async () => {
  guildB = testGuild('Other');
  const guildA = testGuild('Acme');
  guildA.channels.push({ id: snowflake(), name: 'muted', type: 0, deny: PERMISSIONS.SendMessages | PERMISSIONS.EmbedLinks });
  guildA.channels.push({ id: snowflake(), name: 'voice', type: 2 });
  h = await startHarness({ discord: { guilds: [guildA, guildB] }, env: { PUBLIC_URL: 'https://dispatch.example.com' }, captureLogs: true });
  h.guild = guildA;
  h.channelId = guildA.channels[0]!.id;
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = admin(guildA);
  bob = admin(guildB);
});
afterAll(async () => {
  await h?.close();
});

/** Runs /dispatch source create (a feed: these tests look at one message per event) and submits the modal; returns the reply and the slug in it. */
async function createSource(member: Member, name: string, channelId: string, secret: string) {
  const opened = await answerOf(h.discord, slash(member, 'create', [str('name', name), chan('channel', channelId), str('layout', 'feed')]));
  expect(opened.body.type, shownText(opened)).toBe(9); // MODAL
  const submit = modalSubmit(member, messageOf(opened).custom_id, { secret });
  const reply = await answerOf(h.discord, submit);
  const slug = /\/hooks\/([A-Za-z0-9_-]{32})/.exec(shownText(reply))?.[1];
  return { opened, submit, reply, slug };
}

async function postIssue(slug: string, secret?: string) {
  return h.post(slug, sentryRequest('issue', issueCreated, secret));
}

async function settle() {
  await new Promise((r) => setTimeout(r, 200));
}

describe('/dispatch source, end to end through discord.js', () => {
  it('create → signed webhook → embed → disable → 404 → enable → rotate secret → delete → 404', async () => {
    const { opened, submit, reply, slug } = await createSource(alice, 'backend', h.channelId, '  s3cret-one  ');
    expect(messageOf(opened).title).toContain('backend');
    const input = messageOf(opened).components[0].component;
    expect(input).toMatchObject({ custom_id: 'secret', required: false, max_length: 256 });
    expect(answeredEphemerally(h.discord, submit)).toBe(true);
    const text = shownText(reply);
    expect(text).toContain(`https://dispatch.example.com/hooks/${slug}`);
    expect(text).toContain('Create New Integration');
    expect(text).not.toContain('No signing secret');
    expect(text).not.toContain('s3cret-one');
    expect(slug).toBeDefined();

    const first = { ...issueCreated, data: { issue: { ...(issueCreated.data as { issue: object }).issue, shortId: 'PYTHON-FLOW' } } };
    expect((await h.post(slug!, sentryRequest('issue', first, 's3cret-one'))).status).toBe(202);
    const posted = await h.discord.waitForMessage((m) => m.channel_id === h.channelId && JSON.stringify(m.embeds).includes('PYTHON-FLOW'));
    expect(posted.allowed_mentions).toEqual({ parse: [], roles: [] });

    const disabled = await answerOf(h.discord, slash(alice, 'disable', [str('source', 'backend')]));
    expect(shownText(disabled)).toContain('disabled');
    const before = h.discord.messages.length;
    expect((await postIssue(slug!, 's3cret-one')).status).toBe(404);
    await settle();
    expect(h.discord.messages.length).toBe(before);

    const enabled = await answerOf(h.discord, slash(alice, 'enable', [str('source', 'backend')]));
    expect(shownText(enabled)).toContain('enabled');
    const second = { ...issueCreated, data: { issue: { ...(issueCreated.data as { issue: object }).issue, shortId: 'PYTHON-Z' } } };
    expect((await h.post(slug!, sentryRequest('issue', second, 's3cret-one'))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('PYTHON-Z'));

    const secretForm = await answerOf(h.discord, slash(alice, 'secret', [str('source', 'backend')]));
    expect(secretForm.body.type).toBe(9);
    const rotated = await answerOf(h.discord, modalSubmit(alice, messageOf(secretForm).custom_id, { secret: 's3cret-two' }));
    expect(shownText(rotated)).toContain('rotated');
    expect(shownText(rotated)).not.toContain('s3cret-two');
    const third = { ...issueCreated, data: { issue: { ...(issueCreated.data as { issue: object }).issue, shortId: 'PYTHON-3' } } };
    const old = await h.post(slug!, sentryRequest('issue', third, 's3cret-one'));
    expect(old.status).toBe(401);
    expect(old.headers.get('sentry-hook-error')).toBe('signature mismatch');
    expect((await h.post(slug!, sentryRequest('issue', third, 's3cret-two'))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('PYTHON-3'));

    const confirm = await answerOf(h.discord, slash(alice, 'delete', [str('source', 'backend')]));
    expect(shownText(confirm)).toContain('cannot be undone');
    expect(await findSource(h.dispatch.db, asGuildId(h.guild.id), 'backend')).toBeDefined(); // nothing deleted before the button
    const confirmId = messageOf(confirm).components[0].components[0].custom_id as string;
    const click = button(alice, confirmId);
    const deleted = await answerOf(h.discord, click);
    expect(callbackOf(h.discord, click).body.type).toBe(CALLBACK.deferredUpdate);
    expect(deleted.kind).toBe('edit'); // the question becomes its outcome
    expect(messageOf(deleted).content).toContain('deleted');
    expect(await findSource(h.dispatch.db, asGuildId(h.guild.id), 'backend')).toBeUndefined();
    expect((await postIssue(slug!, 's3cret-two')).status).toBe(404);
  });

  it('create without a secret warns, and unsigned webhooks are accepted', async () => {
    const { reply, slug } = await createSource(alice, 'frontend', h.channelId, '   ');
    expect(shownText(reply)).toContain('No signing secret');
    expect((await postIssue(slug!)).status).toBe(202);
  });

  it('refuses a duplicate name, a bad name and a channel the bot cannot post in, naming the problem', async () => {
    await createSource(alice, 'dup', h.channelId, 'x');
    const duplicate = await answerOf(h.discord, slash(alice, 'create', [str('name', 'DUP'), chan('channel', h.channelId)]));
    expect(shownText(duplicate)).toContain('already exists');
    expect(duplicate.body.data.flags & EPHEMERAL).toBe(EPHEMERAL);
    const bad = await answerOf(h.discord, slash(alice, 'create', [str('name', '<@&1> **x**'), chan('channel', h.channelId)]));
    expect(shownText(bad)).toContain('lowercase letters');
    const muted = h.guild.channels.find((c) => c.name === 'muted')!;
    const refused = await answerOf(h.discord, slash(alice, 'create', [str('name', 'muted'), chan('channel', muted.id)]));
    expect(shownText(refused)).toContain('missing Send Messages, Embed Links');
    const voice = h.guild.channels.find((c) => c.name === 'voice')!;
    const notText = await answerOf(h.discord, slash(alice, 'create', [str('name', 'voice'), chan('channel', voice.id)]));
    expect(shownText(notText)).toContain('not a text or announcement channel');
  });

  it('refuses an expired form and an unknown source clearly', async () => {
    const expired = await answerOf(
      h.discord,
      modalSubmit(alice, `dispatch:create:late:${h.channelId}:${Date.now() - 16 * 60_000}`, { secret: '' }),
    );
    expect(shownText(expired)).toContain('expired');
    expect(await findSource(h.dispatch.db, asGuildId(h.guild.id), 'late')).toBeUndefined();
    const unknown = await answerOf(h.discord, slash(alice, 'info', [str('source', 'nope')]));
    expect(shownText(unknown)).toContain('No source named "nope"');
  });

  it('refuses a member without Manage Server, for commands and buttons', async () => {
    const member = plainMember(h.guild);
    const refused = await answerOf(h.discord, slash(member, 'list'));
    expect(shownText(refused)).toContain('Manage Server');
    expect(refused.body.data.flags & EPHEMERAL).toBe(EPHEMERAL);
    await createSource(alice, 'keep', h.channelId, 'k');
    const source = (await findSource(h.dispatch.db, asGuildId(h.guild.id), 'keep'))!;
    const click = await answerOf(h.discord, button(member, `dispatch:delete:${source.id}:confirm:${Date.now()}`));
    expect(shownText(click)).toContain('Manage Server');
    expect(await findSource(h.dispatch.db, asGuildId(h.guild.id), 'keep')).toBeDefined();
    const suggestions = await answerOf(h.discord, autocomplete(member, 'info', ''));
    expect(messageOf(suggestions).choices).toEqual([]);
  });

  it("keeps a second server away from the first server's sources", async () => {
    await createSource(alice, 'private', h.channelId, 'p');
    const source = (await findSource(h.dispatch.db, asGuildId(h.guild.id), 'private'))!;
    const info = await answerOf(h.discord, slash(bob, 'info', [str('source', 'private')]));
    expect(shownText(info)).toContain('No source named "private"');
    const disable = await answerOf(h.discord, slash(bob, 'disable', [str('source', 'private')]));
    expect(shownText(disable)).toContain('No source named');
    const crossDelete = await answerOf(h.discord, button(bob, `dispatch:delete:${source.id}:confirm:${Date.now()}`));
    expect(shownText(crossDelete)).toContain('no longer exists');
    const crossSecret = await answerOf(h.discord, modalSubmit(bob, `dispatch:secret:${source.id}:${Date.now()}`, { secret: '' }));
    expect(shownText(crossSecret)).toContain('no longer exists');
    const after = (await findSource(h.dispatch.db, asGuildId(h.guild.id), 'private'))!;
    expect(after.enabled).toBe(true);
    expect(after.signingSecret).toBe(source.signingSecret);
    expect(after.signingSecret).toMatch(/^enc:v1:/);
    const list = await answerOf(h.discord, slash(bob, 'list'));
    expect(shownText(list)).not.toContain('private');
    // Bob may create a source with the same name in his own server.
    const own = await createSource(bob, 'private', guildB.channels[0]!.id, '');
    expect(own.slug).toBeDefined();
  });

  it('matches "_" and "%" literally when autocompleting', async () => {
    await createSource(alice, 'lit_x', h.channelId, '');
    await createSource(alice, 'litax', h.channelId, '');
    const typed = await answerOf(h.discord, autocomplete(alice, 'info', 'lit_'));
    expect(messageOf(typed).choices).toEqual([{ name: 'lit_x', value: 'lit_x' }]);
    const percent = await answerOf(h.discord, autocomplete(alice, 'info', 'lit%'));
    expect(messageOf(percent).choices).toEqual([]);
  });

  it("autocompletes only the server's own sources", async () => {
    await createSource(alice, 'auto-one', h.channelId, '');
    await createSource(bob, 'auto-two', guildB.channels[0]!.id, '');
    const forAlice = await answerOf(h.discord, autocomplete(alice, 'info', 'auto'));
    expect(forAlice.body.type).toBe(8);
    expect(messageOf(forAlice).choices).toEqual([{ name: 'auto-one', value: 'auto-one' }]);
    const forBob = await answerOf(h.discord, autocomplete(bob, 'info', 'AUTO'));
    expect(messageOf(forBob).choices).toEqual([{ name: 'auto-two', value: 'auto-two' }]);
  });

  it('lists and autocompletes names in natural order: pad-1, pad-2, pad-10', async () => {
    for (const name of ['pad-10', 'pad-2', 'pad-1']) await createSource(bob, name, guildB.channels[0]!.id, '');
    const list = shownText(await answerOf(h.discord, slash(bob, 'list')));
    const at = (name: string) => list.indexOf(`**${name}**`);
    expect(at('pad-1')).toBeGreaterThan(-1);
    expect(at('pad-1')).toBeLessThan(at('pad-2'));
    expect(at('pad-2')).toBeLessThan(at('pad-10'));
    const typed = await answerOf(h.discord, autocomplete(bob, 'info', 'pad'));
    expect(messageOf(typed).choices.map((c: { name: string }) => c.name)).toEqual(['pad-1', 'pad-2', 'pad-10']);
  });

  it('lists sources in pages within Discord limits, and shows info without the secret', async () => {
    for (let i = 0; i < 23; i++) await createSource(alice, `bulk-${String(i).padStart(2, '0')}`, h.channelId, i % 2 ? 'sec' : '');
    const list = await answerOf(h.discord, slash(alice, 'list'));
    const embed = messageOf(list).embeds[0];
    expect(embed.description.length).toBeLessThanOrEqual(4096);
    expect(embed.footer.text).toMatch(/^Page 1 of \d+$/);
    const next = messageOf(list).components[0].components[1].custom_id as string;
    const click = button(alice, next);
    const page2 = await answerOf(h.discord, click);
    expect(callbackOf(h.discord, click).body.type).toBe(CALLBACK.deferredUpdate);
    expect(page2.kind).toBe('edit');
    expect(messageOf(page2).embeds[0].footer.text).toMatch(/^Page 2 of/);

    const asked = slash(alice, 'info', [str('source', 'bulk-01')]);
    const text = shownText(await answerOf(h.discord, asked));
    expect(text).toContain('/hooks/');
    expect(text).toContain('Events received');
    expect(text).toContain('Deliveries posted');
    expect(text).not.toContain('sec"');
    expect(answeredEphemerally(h.discord, asked)).toBe(true);
  });

  it('test posts a sample embed, or says exactly why it could not', async () => {
    await createSource(alice, 'tester', h.channelId, '');
    const ok = await interact(h.discord, slash(alice, 'test', [str('source', 'tester')]));
    expect(ok.body.type).toBe(5); // deferred
    const done = await h.discord.waitForResponse((r) => r.token === ok.token && r.kind === 'edit');
    expect(done.body.content).toContain('Posted a sample event');
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('DISPATCH-TEST'));

    h.discord.inject([{ status: 403, body: { code: 50013, message: 'Missing Permissions' } }], h.channelId);
    const refused = await interact(h.discord, slash(alice, 'test', [str('source', 'tester')]));
    const why = await h.discord.waitForResponse((r) => r.token === refused.token && r.kind === 'edit');
    expect(why.body.content).toContain('50013 Missing Permissions');
  });
});

describe('/dispatch template, end to end through discord.js', () => {
  const template = JSON.stringify({
    embed: { title: '{{ payload.data.issue.shortId }} via template', color: '{{ payload.data.issue.level | level_color }}' },
  });

  /** A source of its own for each test, with the `issue.*` template set (as `set` saves it), so no test depends on another. */
  async function templated(name: string) {
    await createSource(alice, name, h.channelId, '');
    const source = (await findSource(h.dispatch.db, asGuildId(h.guild.id), name))!;
    const { setTemplate } = await import('../../src/db/templates.js');
    await setTemplate(
      h.dispatch.db,
      { sourceId: source.id, routeId: null, eventPattern: 'issue.*', body: template, updatedBy: alice.userId },
      Date.now(),
    );
    return source;
  }

  it('set refuses a syntax error with the engine message, saves a good template and pre-fills it next time', async () => {
    await createSource(alice, 'tpl', h.channelId, '');
    const opened = await answerOf(h.discord, slash(alice, 'set', [str('source', 'tpl'), str('event', 'issue.*')], 'template'));
    expect(opened.body.type).toBe(9);
    expect(messageOf(opened).components[0].component).toMatchObject({ custom_id: 'event', value: 'issue.*' });
    const input = messageOf(opened).components[1].component;
    expect(input).toMatchObject({ custom_id: 'template', max_length: 4000 });
    expect(input.value).toBeUndefined();

    const submitted = modalSubmit(alice, messageOf(opened).custom_id, { event: 'issue.*', template: '{"embed": {"title": "{{ oops"}}' });
    const bad = await answerOf(h.discord, submitted);
    expect(shownText(bad)).toMatch(/embed\.title: .*not closed/i);
    expect(answeredEphemerally(h.discord, submitted)).toBe(true);

    const good = await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { event: 'issue.*', template }));
    expect(shownText(good)).toContain('saved');
    const again = await answerOf(h.discord, slash(alice, 'set', [str('source', 'tpl'), str('event', 'issue.*')], 'template'));
    expect(messageOf(again).components[1].component.value).toBe(template);
    const badEvent = await answerOf(h.discord, slash(alice, 'set', [str('source', 'tpl'), str('event', 'issue/../x')], 'template'));
    expect(shownText(badEvent)).toContain('An event is an event type');
  });

  it("set takes the longest event pattern the grammar allows, within Discord's custom id limit", async () => {
    await templated('tpl-long');
    const longest = `${'a'.repeat(64)}.${'b'.repeat(64)}`;
    const opened = await answerOf(h.discord, slash(alice, 'set', [str('source', 'tpl-long'), str('event', longest)], 'template'));
    expect(opened.body.type).toBe(9);
    expect(messageOf(opened).custom_id.length).toBeLessThanOrEqual(100);
    expect(messageOf(opened).components[0].component.value).toBe(longest);
    const saved = await answerOf(h.discord, modalSubmit(alice, messageOf(opened).custom_id, { event: longest, template }));
    expect(shownText(saved)).toContain(`Template for \`${longest}\` saved`);
    await answerOf(h.discord, slash(alice, 'clear', [str('source', 'tpl-long'), str('event', longest)], 'template'));
  });

  it('preview renders against a sample, then against the last event received', async () => {
    const source = await templated('tpl-preview');
    const sample = await interact(
      h.discord,
      slash(alice, 'preview', [str('source', 'tpl-preview'), str('event', 'issue.created')], 'template'),
    );
    expect(sample.body.type).toBe(5);
    const shown = await h.discord.waitForResponse((r) => r.token === sample.token && r.kind === 'edit');
    expect(shown.body.content).toContain('Template `issue.*` rendered from a sample `issue.created` event');
    expect(shown.body.embeds[0].title).toBe('DISPATCH-TEST via template');

    expect((await postIssue(source.slug)).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('PYTHON-Y via template'));
    const real = await interact(
      h.discord,
      slash(alice, 'preview', [str('source', 'tpl-preview'), str('event', 'issue.created')], 'template'),
    );
    const shownReal = await h.discord.waitForResponse((r) => r.token === real.token && r.kind === 'edit');
    expect(shownReal.body.content).toContain('the last `issue.created` event received');
    expect(shownReal.body.embeds[0].title).toBe('PYTHON-Y via template');
  });

  it('preview shows a failing template and the built-in embed that would be posted', async () => {
    const source = await templated('tpl-failing');
    const { setTemplate } = await import('../../src/db/templates.js');
    await setTemplate(
      h.dispatch.db,
      {
        sourceId: source.id,
        routeId: null,
        eventPattern: 'issue.created',
        body: JSON.stringify({ embed: { title: '{{ payload.nope }}' } }),
        updatedBy: alice.userId,
      },
      Date.now(),
    );
    const preview = await interact(
      h.discord,
      slash(alice, 'preview', [str('source', 'tpl-failing'), str('event', 'issue.created')], 'template'),
    );
    const shown = await h.discord.waitForResponse((r) => r.token === preview.token && r.kind === 'edit');
    expect(shown.body.content).toMatch(/Template `issue.created` failed .*\(missing variable\)/);
    expect(shown.body.embeds[0].author.name).toBe('New issue · DISPATCH-TEST'); // the sample: this source has received nothing yet

    // Delivered with the failing template: the built-in embed goes out, and info shows why.
    const next = { ...issueCreated, data: { issue: { ...(issueCreated.data as { issue: object }).issue, shortId: 'PYTHON-TPL' } } };
    expect((await h.post(source.slug, sentryRequest('issue', next))).status).toBe(202);
    await h.discord.waitForMessage((m) => JSON.stringify(m.embeds).includes('New issue · PYTHON-TPL'));
    await expect
      .poll(async () => (await findSource(h.dispatch.db, asGuildId(h.guild.id), 'tpl-failing'))?.lastTemplateError)
      .toMatch(/missing variable/);
    const info = await answerOf(h.discord, slash(alice, 'info', [str('source', 'tpl-failing')]));
    // Recorded failures are shown escaped (their words can quote a payload); read without the escapes.
    expect(shownText(info).replace(/\\/g, '')).toMatch(/Last template failure.*template issue\.created failed \(missing variable\)/);
  });

  it('list shows the templates; clear removes one and says when there is none', async () => {
    const source = await templated('tpl-list');
    const { setTemplate } = await import('../../src/db/templates.js');
    await setTemplate(
      h.dispatch.db,
      { sourceId: source.id, routeId: null, eventPattern: 'issue.created', body: template, updatedBy: alice.userId },
      Date.now(),
    );
    const list = await answerOf(h.discord, slash(alice, 'list', [str('source', 'tpl-list')], 'template'));
    const text = shownText(list);
    expect(text).toContain('`issue.*`');
    expect(text).toContain('`issue.created`');
    const cleared = await answerOf(
      h.discord,
      slash(alice, 'clear', [str('source', 'tpl-list'), str('event', 'issue.created')], 'template'),
    );
    expect(shownText(cleared)).toContain('removed');
    const none = await answerOf(h.discord, slash(alice, 'clear', [str('source', 'tpl-list'), str('event', 'issue.created')], 'template'));
    expect(shownText(none)).toContain('has no template for `issue.created`');
    const foreign = await answerOf(h.discord, slash(bob, 'list', [str('source', 'tpl-list')], 'template'));
    expect(shownText(foreign)).toContain('No source named "tpl-list"');
  });
});

describe('secrets stay secret', () => {
  it('an unexpected error in a command is logged without the interaction token, and the member gets a generic answer', async () => {
    await createSource(alice, 'form-refused', h.channelId, '');
    // Discord refuses the form (the first answer of `secret`): the error boundary answers instead.
    h.discord.injectCallbacks([{ status: 400, body: { code: 50035, message: 'Invalid Form Body', errors: { data: { content: 'x' } } } }]);
    const payload = slash(alice, 'secret', [str('source', 'form-refused')]);
    const answer = await answerOf(h.discord, payload);
    expect(shownText(answer)).toContain('Something went wrong on our side');
    await expect.poll(() => h.logLines.some((l) => l.includes('interaction failed'))).toBe(true);
    const logged = h.logLines.find((l) => l.includes('interaction failed'))!;
    expect(logged).toContain('/interactions/');
    expect(logged).toContain('[token]');
    expect(logged).not.toContain(payload.token);
  });

  /** `source disable` of a new source, its acknowledgement answered by Discord with `refusal`. */
  async function disableAcknowledgedWith(name: string, refusal: { status: number; body: { code: number; message: string } }) {
    await createSource(alice, name, h.channelId, '');
    h.discord.injectCallbacks([refusal]);
    const payload = slash(alice, 'disable', [str('source', name)]);
    h.discord.dispatch('INTERACTION_CREATE', payload);
    return payload;
  }

  it('a command Discord did not take the acknowledgement of is left undone, and logged without its token', async () => {
    // Too late already (Discord: 10062 Unknown interaction): the member sees "did not respond", so nothing may change.
    const payload = await disableAcknowledgedWith('not-taken', { status: 404, body: { code: 10062, message: 'Unknown interaction' } });
    await expect.poll(() => h.logLines.some((l) => l.includes('interaction not acknowledged') && l.includes(payload.id))).toBe(true);
    expect((await findSource(h.dispatch.db, asGuildId(h.guild.id), 'not-taken'))!.enabled).toBe(true);
    expect(h.discord.interactionResponses.filter((r) => r.token === payload.token)).toEqual([]);
    const logged = h.logLines.find((l) => l.includes('interaction not acknowledged') && l.includes(payload.id))!;
    expect(logged).toContain('[token]');
    expect(logged).not.toContain(payload.token);
  });

  it('an acknowledgement Discord already had (the REST client sent it again after a lost answer) counts: the work is done and answered', async () => {
    const payload = await disableAcknowledgedWith('sent-twice', {
      status: 400,
      body: { code: 40060, message: 'Interaction has already been acknowledged.' },
    });
    const answer = await answerAfterAcknowledgement(h.discord, payload);
    expect(answer.kind).toBe('edit');
    expect(shownText(answer)).toContain('is disabled');
    expect((await findSource(h.dispatch.db, asGuildId(h.guild.id), 'sent-twice'))!.enabled).toBe(false);
  });

  it('no signing secret, webhook slug, interaction token or bot token appears in any log line, and no reply shows a secret', async () => {
    // Its own story first (so it does not rest on what other tests did): create, rotate, info, list, a webhook, delete.
    const { slug } = await createSource(alice, 'audited', h.channelId, 's3cret-audit');
    const rotate = await answerOf(h.discord, slash(alice, 'secret', [str('source', 'audited')]));
    await answerOf(h.discord, modalSubmit(alice, messageOf(rotate).custom_id, { secret: 's3cret-audit-2' }));
    await answerOf(h.discord, slash(alice, 'info', [str('source', 'audited')]));
    await answerOf(h.discord, slash(alice, 'list'));
    expect((await postIssue(slug!, 's3cret-audit-2')).status).toBe(202);
    expect((await postIssue(slug!, 's3cret-audit')).status).toBe(401);
    const confirm = await answerOf(h.discord, slash(alice, 'delete', [str('source', 'audited')]));
    await answerOf(h.discord, button(alice, messageOf(confirm).components[0].components[0].custom_id as string));
    // …then everything this file's harness logged and answered, this test's story and any other test's.
    const secrets = ['s3cret-audit', 's3cret-one', 's3cret-two', 'sec"', 'test-token'];
    const replies = h.discord.interactionResponses.map((r) => JSON.stringify(r.body));
    const slugs = new Set(replies.flatMap((r) => [...r.matchAll(/\/hooks\/([A-Za-z0-9_-]{32})/g)].map((m) => m[1]!)));
    const tokens = new Set(h.discord.interactionResponses.map((r) => r.token));
    expect(replies.length).toBeGreaterThanOrEqual(7);
    expect(slugs.size).toBeGreaterThanOrEqual(1);
    expect(tokens.size).toBeGreaterThanOrEqual(7);
    expect(h.logLines.length).toBeGreaterThanOrEqual(5);
    for (const text of replies) for (const secret of secrets) expect(text).not.toContain(secret);
    for (const line of h.logLines) {
      for (const secret of [...secrets, ...slugs, ...tokens]) expect(line).not.toContain(secret);
    }
  });

  it('every custom id the bot sent fits in the 100 characters Discord allows', async () => {
    // Forms, buttons and pages with the longest names there are.
    const name = 'x'.repeat(32);
    await createSource(alice, name, h.channelId, '');
    await answerOf(h.discord, slash(alice, 'delete', [str('source', name)]));
    await answerOf(h.discord, slash(alice, 'secret', [str('source', name)]));
    for (let i = 0; i < 11; i++) await createSource(alice, `${'y'.repeat(28)}-${String(i).padStart(2, '0')}`, h.channelId, '');
    await answerOf(h.discord, slash(alice, 'list'));
    const ids = h.discord.interactionResponses.flatMap((r) => JSON.stringify(r.body).match(/"custom_id":"[^"]*"/g) ?? []);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    for (const id of ids) expect(id.length - '"custom_id":""'.length).toBeLessThanOrEqual(100);
  });
});

describe('npm run deploy-commands', () => {
  it('registers the command tree globally, or in DISCORD_GUILD_ID, at the configured API', async () => {
    const result = await deployCommands({ token: 't', apiUrl: h.discord.apiUrl });
    expect(result).toEqual({ scope: 'global', names: ['dispatch', 'Show Sentry issue'], applicationId: APP_ID });
    const [command, showIssue] = h.discord.registeredCommands.get('global') as any[];
    expect(command.name).toBe('dispatch');
    expect(command.default_member_permissions).toBe(String(PERMISSIONS.ManageGuild));
    // The message command (a message's Apps menu): shown to the same members, and a server may open it to more.
    expect(showIssue).toMatchObject({ name: 'Show Sentry issue', type: 3, default_member_permissions: String(PERMISSIONS.ManageGuild) });
    const byName = (name: string) => command.options.find((o: { name: string }) => o.name === name);
    expect(command.options.map((o: { name: string }) => o.name)).toEqual(['source', 'route', 'me', 'issue', 'template']);
    const subs = command.options[0].options.map((o: { name: string }) => o.name);
    expect(subs).toEqual([
      'create',
      'list',
      'info',
      'enable',
      'disable',
      'delete',
      'secret',
      'test',
      'retry',
      'log',
      'edit',
      'connect',
      'schema',
    ]);
    expect(byName('route').options.map((o: { name: string }) => o.name)).toEqual(['add', 'list', 'edit', 'remove', 'digest', 'test']);
    expect(byName('me').options.map((o: { name: string }) => o.name)).toEqual(['show', 'connect', 'disconnect', 'notify']);
    expect(byName('issue').options.map((o: { name: string }) => o.name)).toEqual(['find', 'post']);
    expect(byName('template').options.map((o: { name: string }) => o.name)).toEqual(['set', 'preview', 'list', 'clear']);

    // Asynchronously: the fake Discord answers from this same process.
    const run = await promisify(execFile)(process.execPath, [compiled('deploy-commands')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DISCORD_TOKEN: 't', DISCORD_API_URL: h.discord.apiUrl, DISCORD_GUILD_ID: guildB.id },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`Registered /dispatch and "Show Sentry issue" in server ${guildB.id}`);
    expect(h.discord.registeredCommands.get(guildB.id)).toHaveLength(2);
  });
});
