import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { productionArgs, startChild, type ChildDispatch } from '../test/support/child.js';
import { FakeDiscord, snowflake, type FakeChannel, type FakeGuild } from '../test/support/fake-discord.js';
import { FakeSentry } from '../test/support/fake-sentry.js';
import { admin, answerOf, bool, chan, interact, modalSubmit, shownText, slash, str, type Member } from '../test/support/interactions.js';
import { sentryRequest } from '../test/support/sentry.js';

/**
 * Dispatch as `npm start` runs it (compiled, built first if the sources changed, an SQLite file in
 * a temporary folder), logged in to the loopback Discord of the tests and connected to their
 * loopback Sentry API: what a person sees in Discord, without a token or a network.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SENTRY_TOKEN = 'sntrys_demo-token';
const SECRET = 'demo-signing-secret';

export interface Loopback {
  discord: FakeDiscord;
  sentry: FakeSentry;
  guild: FakeGuild;
  dispatch: ChildDispatch;
  /** The server's admin, who types the commands. */
  alice: Member;
  channel(name: string): FakeChannel;
  /** `/dispatch source create` and its form: the source's webhook slug, and what Dispatch answered. */
  createSource(name: string, channel: string, layout: 'card' | 'feed'): Promise<{ slug: string; answer: string }>;
  /** Runs a `/dispatch` command (as alice, or `as` another member) and returns the bot's answer to it. */
  command(group: string, sub: string, options: [string, string | boolean][], as?: Member): ReturnType<typeof answerOf>;
  /** A command that opens a form, then the form submitted with `values`: the bot's answer. */
  form(group: string, sub: string, options: [string, string][], values: Record<string, string>, as?: Member): ReturnType<typeof answerOf>;
  /** A signed webhook, as Sentry sends it; resolves once Dispatch has answered 202. */
  webhook(slug: string, resource: string, payload: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Waits until `condition` holds; a demo that waits forever helps nobody, so it says what it waited for. */
export async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `dist/` as `npm start` would leave it: the same check, loaded before an empty program. */
async function buildIfStale(): Promise<void> {
  await promisify(execFile)(process.execPath, ['--import', './scripts/build-if-stale.mjs', '-e', ''], { cwd: ROOT, timeout: 180_000 });
}

export async function startLoopback(channels: string[], env: Record<string, string> = {}): Promise<Loopback> {
  const guild: FakeGuild = { id: snowflake(), name: 'Acme', channels: channels.map((name) => ({ id: snowflake(), name, type: 0 })) };
  const discord = await FakeDiscord.start({ guilds: [guild] });
  // `*`: it answers for any organization the payloads name.
  const sentry = await FakeSentry.start({ token: SENTRY_TOKEN, org: '*' });
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-demo-'));
  await buildIfStale();
  const dispatch = await startChild(
    {
      DISCORD_TOKEN: 'demo-token-not-a-real-one',
      DISCORD_API_URL: discord.apiUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_PATH: join(dir, 'dispatch.db'),
      // Webhook URLs as an installation reachable by Sentry shows them (the demo posts to the listener itself).
      PUBLIC_URL: 'https://dispatch.example.com',
      // The loopback Sentry API is plain http on 127.0.0.1.
      SENTRY_ALLOW_INSECURE_URLS: 'true',
      SENTRY_ALLOW_PRIVATE_URLS: 'true',
      ...env,
    },
    productionArgs(),
  );
  await until(() => dispatch.logs.some((l) => l.msg === 'Discord gateway ready'), 'the Discord gateway');
  const alice: Member = { ...admin(guild), username: 'alice' };
  const channel = (name: string) => guild.channels.find((c) => c.name === name)!;
  const optionsOf = (options: [string, string | boolean][]) =>
    options.map(([name, value]) =>
      typeof value === 'boolean' ? bool(name, value) : name === 'channel' ? chan(name, channel(value).id) : str(name, value),
    );
  const loopback: Loopback = {
    discord,
    sentry,
    guild,
    dispatch,
    alice,
    channel,
    async createSource(name, channelName, layout) {
      const answer = shownText(
        await loopback.form(
          'source',
          'create',
          [
            ['name', name],
            ['channel', channelName],
            ['layout', layout],
          ],
          // Left blank, as on a first set-up: Sentry shows the Client Secret once the integration is saved with the URL.
          { secret: '' },
        ),
      );
      const slug = /\/hooks\/([A-Za-z0-9_-]{32})/.exec(answer)?.[1];
      if (!slug) throw new Error(`demo: source create answered ${answer}`);
      const secret = shownText(await loopback.form('source', 'secret', [['source', name]], { secret: SECRET }));
      if (!/secret/i.test(secret)) throw new Error(`demo: source secret answered ${secret}`);
      return { slug, answer };
    },
    command: (group, sub, options, as = alice) => answerOf(discord, slash(as, sub, optionsOf(options), group)),
    async form(group, sub, options, values, as = alice) {
      const opened = await interact(discord, slash(as, sub, optionsOf(options), group));
      if (opened.body?.type !== 9) throw new Error(`demo: /dispatch ${group} ${sub} answered ${shownText(opened)}`);
      return answerOf(discord, modalSubmit(as, opened.body.data.custom_id, values));
    },
    async webhook(slug, resource, payload) {
      const { body, headers } = sentryRequest(resource, payload, SECRET);
      const response = await fetch(`${dispatch.url}/hooks/${slug}`, { method: 'POST', body, headers });
      if (response.status !== 202) throw new Error(`demo: a ${resource} webhook was answered ${response.status}`);
    },
    async stop() {
      dispatch.process.kill('SIGTERM');
      await dispatch.exited;
      await discord.stop();
      await sentry.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return loopback;
}
