import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands, componentHandlers, messageCommands, type Command } from '../../commands/index.js';
import { findRoute } from '../../src/db/routes.js';
import { findSource } from '../../src/db/sources.js';
import { asGuildId } from '../../src/ids.js';
import { TRIAGE_ACTIONS } from '../../src/triage/actions.js';
import { startHarness, waitFor, type Harness } from '../support/harness.js';
import {
  admin,
  answeredEphemerally,
  answerAfterAcknowledgement,
  answerOf,
  bool,
  button,
  CALLBACK,
  chan,
  interact,
  messageCommand,
  messageOf,
  shownText,
  slash,
  str,
  topSlash,
  type InteractionPayload,
  type Member,
} from '../support/interactions.js';
import { loadFixture } from '../support/sentry.js';

/**
 * Discord allows 3 s for the first answer to an interaction, and on SQLite a handler's database
 * work holds the one event loop: the router acknowledges (a deferred reply, type 5, or a deferred
 * update, type 6) before the handler runs, except for a form (type 9). These tests hold the
 * acknowledgement in flight at the loopback Discord and look at the database meanwhile: nothing
 * of the handler's work may be there before Discord has taken it.
 */

let h: Harness;
let alice: Member;

beforeAll(async () => {
  h = await startHarness({ captureLogs: true });
  await waitFor(() => h.dispatch.client.isReady(), 20_000, 'the gateway');
  alice = admin(h.guild);
  await h.addSource({ name: 'acked' });
});
afterAll(async () => {
  await h?.close();
});

const source = async (name: string) => findSource(h.dispatch.db, asGuildId(h.guild.id), name);

/** The acknowledgement of the next interaction is taken by the loopback Discord but answered only on `release()`. */
function holdNextAcknowledgement(): { release: () => void } {
  let release = () => {};
  h.discord.injectCallbacks([{ status: 204, answerAfter: new Promise<void>((resolve) => (release = resolve)) }]);
  return { release };
}

/** What the bot sent for an interaction so far: callbacks, edits and follow-ups, in order. */
const responsesTo = (payload: InteractionPayload) => h.discord.interactionResponses.filter((r) => r.token === payload.token);

describe('every registered command and component declares how it is acknowledged', () => {
  type Json = { name: string; type: number; required?: boolean; options?: Json[] };
  const SUBCOMMAND = 1;
  const GROUP = 2;
  const CHANNEL = 7;

  /** Every subcommand of a command's definition, as `group sub` (or `sub`, at the top: `/dispatch issue`), with its options. */
  const subcommandsOf = (command: Command) =>
    ((command.data.toJSON() as { options?: Json[] }).options ?? []).flatMap((group) =>
      group.type === GROUP
        ? (group.options ?? [])
            .filter((s) => s.type === SUBCOMMAND)
            .map((s) => ({ group: group.name as string | undefined, sub: s.name, options: s.options ?? [] }))
        : group.type === SUBCOMMAND
          ? [{ group: undefined, sub: group.name, options: group.options ?? [] }]
          : [],
    );

  const pathOf = (group: string | undefined, sub: string) => (group ? `${group} ${sub}` : sub);
  const rows = commands.flatMap((command) =>
    subcommandsOf(command).map(({ group, sub, options }) => ({ path: pathOf(group, sub), group, sub, options, command })),
  );

  it('the handler table and the command tree name the same subcommands', () => {
    for (const command of commands) {
      expect(Object.keys(command.handlers).sort()).toEqual(
        subcommandsOf(command)
          .map(({ group, sub }) => pathOf(group, sub))
          .sort(),
      );
    }
    expect(rows.length).toBeGreaterThanOrEqual(20);
  });

  /** A value for each required option: the source `acked`, its route `main`, a fresh name, a channel it can post in. */
  const requiredOptions = (path: string, options: Json[]) =>
    options
      .filter((o) => o.required)
      .map((o) => {
        if (o.type === CHANNEL) return chan(o.name, h.guild.channels[1]!.id);
        if (o.name === 'source') return str('source', 'acked');
        if (o.name === 'route') return str('route', 'main');
        if (o.name === 'name') return str('name', `new-${path.replace(' ', '-')}`);
        if (o.name === 'find') return str('find', '4242');
        throw new Error(`no sample value for the required option ${o.name} of ${path}: add one here`);
      });

  it.each(rows)('/dispatch $path: the declared acknowledgement is its first answer', async ({ path, group, sub, options, command }) => {
    const handler = command.handlers[path]!;
    expect(['reply', 'modal']).toContain(handler.acknowledge);
    const payload = group ? slash(alice, sub, requiredOptions(path, options), group) : topSlash(alice, sub, requiredOptions(path, options));
    const first = await interact(h.discord, payload);
    if (handler.acknowledge === 'modal') {
      expect(first.body.type, shownText(first)).toBe(CALLBACK.modal);
      return;
    }
    expect(first.body.type).toBe(CALLBACK.deferredReply);
    expect(answeredEphemerally(h.discord, payload)).toBe(true);
    const answer = await answerAfterAcknowledgement(h.discord, payload);
    expect(answer.kind).toBe('edit'); // the answer, or a refusal, replaces "thinking…"
    expect(responsesTo(payload).filter((r) => r.kind === 'callback')).toHaveLength(1);
  });

  /** Custom id arguments to try for each component; a new component needs its row here. */
  const COMPONENT_ARGS: Record<string, string[][]> = {
    create: [['x']],
    secret: [['x']],
    connect: [['x']],
    'tpl-set': [['x']],
    delete: [['0', 'cancel', '0']],
    'route-del': [['0', 'cancel', '0']],
    list: [['0']],
    triage: [...Object.keys(TRIAGE_ACTIONS), 'assign', 'assign-to', 'archive-menu', 'archive-to'].map((kind) => ['0', '1', kind]),
    'triage-pick': [[]],
    'me-connect': [['x']],
  };

  it('each component has arguments to try', () => {
    expect(Object.keys(COMPONENT_ARGS).sort()).toEqual(componentHandlers.map((c) => c.action).sort());
  });

  const componentRows = componentHandlers.flatMap((handler) =>
    (COMPONENT_ARGS[handler.action] ?? []).map((args) => ({ id: ['dispatch', handler.action, ...args].join(':'), handler, args })),
  );

  it.each(componentRows)('$id: the declared acknowledgement is its first answer', async ({ id, handler, args }) => {
    const declared = typeof handler.acknowledge === 'function' ? handler.acknowledge(args) : handler.acknowledge;
    expect(['reply', 'update']).toContain(declared);
    const payload = button(alice, id);
    const first = await interact(h.discord, payload);
    expect(first.body.type).toBe(declared === 'reply' ? CALLBACK.deferredReply : CALLBACK.deferredUpdate);
    await answerAfterAcknowledgement(h.discord, payload); // something follows: the answer, or why not
    expect(responsesTo(payload).filter((r) => r.kind === 'callback')).toHaveLength(1);
  });
});

describe('message commands declare how they are acknowledged too', () => {
  it.each(messageCommands.map((command) => ({ name: command.data.name, command })))(
    '"$name": a deferred reply, only to the member, then its answer',
    async ({ name }) => {
      const payload = messageCommand(alice, name, { id: '1', channel_id: h.guild.channels[0]!.id, content: 'no link here' });
      const first = await interact(h.discord, payload);
      expect(first.body.type).toBe(CALLBACK.deferredReply);
      expect(answeredEphemerally(h.discord, payload)).toBe(true);
      expect((await answerAfterAcknowledgement(h.discord, payload)).kind).toBe('edit');
    },
  );
});

describe('the acknowledgement reaches Discord before any of the work', () => {
  it('source disable: the source is still enabled while Discord has not taken the deferral; the answer comes after', async () => {
    await h.addSource({ name: 'slow-disable' });
    const hold = holdNextAcknowledgement();
    const payload = slash(alice, 'disable', [str('source', 'slow-disable')]);
    const first = await interact(h.discord, payload);
    expect(first.body.type).toBe(CALLBACK.deferredReply);
    expect((await source('slow-disable'))!.enabled).toBe(true);
    expect(responsesTo(payload).map((r) => r.kind)).toEqual(['callback']);

    hold.release();
    const answer = await answerAfterAcknowledgement(h.discord, payload);
    expect(shownText(answer)).toContain('is disabled');
    expect((await source('slow-disable'))!.enabled).toBe(false);
    expect(responsesTo(payload).map((r) => r.kind)).toEqual(['callback', 'edit']);
  });

  it('route digest post:true: no digest is drawn or made before the deferral is taken', async () => {
    const digested = await h.addSource({ name: 'digested', channelId: h.guild.channels[1]!.id });
    expect((await h.postEvent(digested, 'issue', loadFixture('issue.created.json'))).status).toBe(202);
    await h.discord.waitForMessage((m) => m.channel_id === digested.channelId);
    const made = () => h.logLines.filter((l) => l.includes('"digest made"') && l.includes(`"route_id":${digested.route.id}`)).length;
    const digests = () => h.discord.messagesIn(digested.channelId).filter((m) => JSON.stringify(m.embeds).includes('Digest')).length;

    const hold = holdNextAcknowledgement();
    const payload = slash(alice, 'digest', [str('source', 'digested'), str('route', 'main'), bool('post', true)], 'route');
    const first = await interact(h.discord, payload);
    expect(first.body.type).toBe(CALLBACK.deferredReply);
    expect(made()).toBe(0);
    expect(digests()).toBe(0);

    hold.release();
    expect(shownText(await answerAfterAcknowledgement(h.discord, payload))).toContain('is on its way');
    expect(made()).toBe(1);
    await h.discord.waitForMessage((m) => m.channel_id === digested.channelId && JSON.stringify(m.embeds).includes('Digest'));
  });

  it.each([
    ['source delete', 'delete', 'source', (name: string) => [str('source', name)]],
    ['route remove', 'remove', 'route', (name: string) => [str('source', name), str('route', 'spare')]],
  ] as const)(
    '%s: the confirm button defers the update; nothing is deleted before Discord has taken it',
    async (_, sub, group, options) => {
      const name = `confirm-${sub}`;
      const created = await h.addSource({ name });
      if (group === 'route') {
        const added = await answerOf(
          h.discord,
          slash(alice, 'add', [str('source', name), str('name', 'spare'), chan('channel', h.guild.channels[1]!.id)], 'route'),
        );
        expect(shownText(added)).toContain('Route **spare**');
      }
      const present = async () =>
        group === 'source' ? (await source(name)) !== undefined : (await findRoute(h.dispatch.db, created.id, 'spare')) !== undefined;
      const asked = await answerOf(h.discord, slash(alice, sub, [...options(name)], group));
      const confirm = (messageOf(asked).components[0].components as { custom_id: string; label: string }[]).find(
        (c) => c.label !== 'Cancel',
      )!;

      const hold = holdNextAcknowledgement();
      const click = button(alice, confirm.custom_id);
      const first = await interact(h.discord, click);
      expect(first.body.type).toBe(CALLBACK.deferredUpdate);
      expect(await present()).toBe(true);

      hold.release();
      const answer = await answerAfterAcknowledgement(h.discord, click);
      expect(answer.kind).toBe('edit'); // the question becomes its outcome
      expect(messageOf(answer)).toMatchObject({ components: [] });
      expect(shownText(answer)).toMatch(/deleted|removed/);
      expect(await present()).toBe(false);
    },
  );
});

describe('a handler whose work is done never answers an error', () => {
  async function deleteWhileAnswersFail(name: string, failures: Parameters<typeof h.discord.injectAnswers>[0]) {
    await h.addSource({ name });
    const asked = await answerOf(h.discord, slash(alice, 'delete', [str('source', name)]));
    const confirm = messageOf(asked).components[0].components[0].custom_id as string;
    h.discord.clearInjected();
    h.discord.injectAnswers(failures);
    const click = button(alice, confirm);
    await interact(h.discord, click);
    return click;
  }

  it('an answer that does not get through (a stale connection) is sent once more', async () => {
    const click = await deleteWhileAnswersFail('answer-retried', [{ status: 0, reset: true }]);
    const answer = await answerAfterAcknowledgement(h.discord, click);
    expect(shownText(answer)).toContain('Source **answer-retried** deleted');
    expect(await source('answer-retried')).toBeUndefined();
    expect(responsesTo(click).map((r) => r.kind)).toEqual(['callback', 'edit']);
  });

  it('when the answer cannot be sent at all, the delete stands and nothing says it failed', async () => {
    const click = await deleteWhileAnswersFail('answer-lost', [
      { status: 0, reset: true },
      { status: 0, reset: true },
    ]);
    await expect.poll(() => h.logLines.some((l) => l.includes('the answer did not arrive') && l.includes(click.id))).toBe(true);
    expect(await source('answer-lost')).toBeUndefined();
    expect(responsesTo(click).map((r) => r.kind)).toEqual(['callback']);
    expect(h.logLines.some((l) => l.includes('interaction failed') && l.includes(click.id))).toBe(false);
  });

  it('Discord refusing the answer (the interaction expired) is not retried, and not answered as an error either', async () => {
    const click = await deleteWhileAnswersFail('answer-refused', [{ status: 404, body: { code: 10015, message: 'Unknown Webhook' } }]);
    await expect.poll(() => h.logLines.some((l) => l.includes('the answer did not arrive') && l.includes(click.id))).toBe(true);
    expect(await source('answer-refused')).toBeUndefined();
    expect(h.discord.requests.filter((r) => r.path.includes(click.token))).toHaveLength(2); // the callback and one edit
    expect(responsesTo(click).map((r) => r.kind)).toEqual(['callback']);
  });
});
