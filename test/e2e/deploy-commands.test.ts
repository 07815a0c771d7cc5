import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ID, FakeDiscord } from '../support/fake-discord.js';
import { startHarness, tempDir, testGuild, waitFor } from '../support/harness.js';
import { compiled } from '../support/child.js';

/**
 * `npm run deploy-commands` as an operator runs it (the script, from source through tsx, in a folder
 * without a .env), against the loopback Discord: what it prints when it works, and the hint for
 * each of Discord's refusals a first install meets.
 */
const guild = testGuild();
const elsewhere = '1300000000000000777';
const dir = tempDir('dispatch-deploy-');
let discord: FakeDiscord;
beforeAll(async () => {
  discord = await FakeDiscord.start({ guilds: [guild] });
});
afterAll(async () => {
  await discord.stop();
  dir.remove();
});

async function deploy(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [compiled('deploy-commands'), ...args], {
      cwd: dir.path,
      env: { PATH: process.env.PATH, DISCORD_API_URL: discord.apiUrl, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

const invite = (guildId: string) =>
  `https://discord.com/oauth2/authorize?client_id=${APP_ID}&scope=bot+applications.commands&permissions=309237730304&guild_id=${guildId}`;

describe('npm run deploy-commands', () => {
  it('registers /dispatch, then prints the invite link with the permissions the bot needs and what each is for', async () => {
    const run = await deploy({ DISCORD_TOKEN: 't', DISCORD_GUILD_ID: guild.id });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.trim().split('\n')).toEqual([
      `Registered /dispatch and "Show Sentry issue" in server ${guild.id}.`,
      `Invite the bot with: ${invite(guild.id)}`,
      "It asks for View Channel, Send Messages, Embed Links (to post, on every route); Create Public Threads, Send Messages in Threads (for cards' history threads); Read Message History (to tell whether a card has scrolled out of sight).",
    ]);
    // The slash command and the message command ("Show Sentry issue", type 3), in one PUT.
    const registered = discord.registeredCommands.get(guild.id) as { name: string; type?: number }[];
    expect(registered.map((c) => [c.name, c.type ?? 1])).toEqual([
      ['dispatch', 1],
      ['Show Sentry issue', 3],
    ]);
  });

  it('a token Discord refuses (401): one line saying where to make a new one, exit 1', async () => {
    discord.refuseToken('revoked');
    const run = await deploy({ DISCORD_TOKEN: 'revoked' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      "deploy-commands: DISCORD_TOKEN was refused by Discord (401 Unauthorized): copy the bot's token again from https://discord.com/developers/applications → your application → Bot → Reset Token, and set DISCORD_TOKEN to it",
    );
  });

  it('a server the bot is not in (50001 Missing Access): the invite link for that server, exit 1', async () => {
    const run = await deploy({ DISCORD_TOKEN: 't', DISCORD_GUILD_ID: elsewhere });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `deploy-commands: Discord refused to register /dispatch in server ${elsewhere} (50001 Missing Access): the bot is not in that server, or was invited without the applications.commands scope. Invite it with ${invite(elsewhere)} , or correct DISCORD_GUILD_ID`,
    );
    expect(discord.registeredCommands.has(elsewhere)).toBe(false);
  });

  it('a first start before the bot is in any server logs the invite link', async () => {
    const lonely = await startHarness({ discord: { guilds: [] }, captureLogs: true });
    try {
      await waitFor(() => lonely.logLines.some((line) => line.includes('in no server yet')), 20_000, 'the invite line');
      const line = lonely.logLines
        .map((text) => JSON.parse(text) as { level: number; msg: string })
        .find((l) => l.msg.includes('no server'));
      expect(line).toMatchObject({
        level: 40,
        msg: `the bot is in no server yet: invite it with https://discord.com/oauth2/authorize?client_id=${APP_ID}&scope=bot+applications.commands&permissions=309237730304`,
      });
    } finally {
      await lonely.close();
    }
  });

  it('--help says what it does, without a token and without calling Discord', async () => {
    const before = discord.requests.length;
    const run = await deploy({}, ['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^npm run deploy-commands — registers \/dispatch with Discord/);
    expect(discord.requests.length).toBe(before);
  });
});
