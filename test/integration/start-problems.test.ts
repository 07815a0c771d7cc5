import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../support/fake-discord.js';
import { tempDir, testGuild } from '../support/harness.js';
import { compiled } from '../support/child.js';

/**
 * What an operator meets on a first start, met as they meet it: Dispatch started as a process
 * (the compiled program), in a folder without a .env, and its answer on stderr: one line per
 * problem naming the variable and the fix, exit code 1.
 */
const dir = tempDir('dispatch-start-problems-');
// Readable and searchable by the unprivileged user some runs below use.
chmodSync(dir.path, 0o755);
let discord: FakeDiscord;
beforeAll(async () => {
  discord = await FakeDiscord.start({ guilds: [testGuild()] });
});
afterAll(async () => {
  await discord.stop();
  dir.remove();
});

/** As root every file is writable: the permission cases run as `nobody` then, as an operator's service user would. */
const AS_SERVICE_USER = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

interface Run {
  code: number | null;
  stdout: string;
  /** stderr, as lines. */
  lines: string[];
}

/** Dispatch (compiled) with only `env` (and PATH), as `user` when given, until it exits. */
function start(env: Record<string, string>, options: { user?: { uid?: number; gid?: number } } = {}): Promise<Run> {
  const child = spawn(process.execPath, [compiled('index')], {
    cwd: dir.path,
    env: { PATH: process.env.PATH, LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options.user,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, lines: stderr.split('\n').filter((line) => line !== '') })),
  );
}

const file = (name: string, mode: number) => {
  const path = join(dir.path, name);
  writeFileSync(path, '');
  chmodSync(path, mode);
  return path;
};
const folder = (name: string, mode: number) => {
  const path = join(dir.path, name);
  mkdirSync(path);
  chmodSync(path, mode);
  return path;
};

describe('a configuration mistake', () => {
  it('every bad variable is reported at once, one line each, before anything starts', async () => {
    const aFile = file('a-file', 0o644);
    const run = await start({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_PATH: join(aFile, 'dispatch.db') });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.lines).toEqual([
      'dispatch: configuration error: DISCORD_TOKEN is required (the bot token from the Discord developer portal)',
      'dispatch: configuration error: PORT must be a port number from 0 to 65535',
      'dispatch: configuration error: LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent',
      `dispatch: configuration error: DATABASE_PATH ${join(aFile, 'dispatch.db')} cannot be made: ${aFile} is a file, not a folder; choose another path`,
    ]);
  });

  it.each([
    [
      'a folder',
      () => folder('a-folder', 0o755),
      (path: string) => `DATABASE_PATH ${path} is a folder: name a file in it, e.g. DATABASE_PATH=${join(path, 'dispatch.db')}`,
    ],
    [
      'in a folder the service user cannot write',
      () => join(folder('locked', 0o555), 'data', 'dispatch.db'),
      (path: string) =>
        `DATABASE_PATH ${path} cannot be written: the folder ${join(dir.path, 'locked')} is not writable by the user nobody; \`chown\` it to the user nobody, or choose another path`,
    ],
    [
      'a read-only file',
      () => (folder('open', 0o777), file('open/read-only.db', 0o444)),
      (path: string) =>
        `DATABASE_PATH ${path} is read-only for the user nobody: \`chown\` it to the user nobody (or run Dispatch as its owner), or choose another path`,
    ],
  ])('DATABASE_PATH %s: one line naming the variable, the path and the fix', async (_case, make, expected) => {
    const path = make();
    const run = await start({ DISCORD_TOKEN: 't', DATABASE_PATH: path }, { user: AS_SERVICE_USER });
    expect(run.code).toBe(1);
    const who = process.getuid?.() === 0 ? 'the user nobody' : `the user ${userInfo().username}`;
    expect(run.lines).toEqual([`dispatch: configuration error: ${expected(path).replaceAll('the user nobody', who)}`]);
  });
});

describe('a start that fails after the configuration', () => {
  let taken: Server;
  beforeAll(async () => {
    taken = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  it('a port in use names PORT and HOST, on one line, exit 1', async () => {
    const port = (taken.address() as AddressInfo).port;
    const run = await start({
      DISCORD_TOKEN: 't',
      DISCORD_API_URL: discord.apiUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_PATH: join(dir.path, 'port.db'),
    });
    expect(run.code).toBe(1);
    expect(run.lines).toEqual([
      `dispatch: could not start: PORT ${port} is already in use on HOST 127.0.0.1 (another Dispatch, or another program, listens there): stop it, or set PORT to a free port`,
    ]);
  });

  it('a token Discord refuses at the first login: one line with the portal page, exit 1, after stopping cleanly', async () => {
    discord.refuseToken('not-a-token');
    const run = await start({
      DISCORD_TOKEN: 'not-a-token',
      DISCORD_API_URL: discord.apiUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_PATH: join(dir.path, 'token.db'),
    });
    expect(run.code).toBe(1);
    expect(run.lines).toEqual([
      "dispatch: could not start: DISCORD_TOKEN was refused by Discord (401 Unauthorized): copy the bot's token again from https://discord.com/developers/applications → your application → Bot → Reset Token, and set DISCORD_TOKEN to it",
    ]);
    const logs = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(logs.map((l) => l.msg)).not.toContain('Discord login failed; webhooks are still accepted and queued');
    expect(logs.at(-1)?.msg).toBe('stopped');
  });

  it('PORT=0 without PUBLIC_URL: webhook URLs carry the port listened on, and the start-up warns that Sentry cannot reach them', async () => {
    // The refused token ends the run by itself once the listener is up.
    discord.refuseToken('not-a-token');
    const run = start({
      DISCORD_TOKEN: 'not-a-token',
      DISCORD_API_URL: discord.apiUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_PATH: join(dir.path, 'zero.db'),
    });
    const logs = (await run).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; url?: string; public_url?: string; level: number });
    const ready = logs.find((l) => l.msg === 'webhook listener ready')!;
    const port = new URL(ready.url!).port;
    expect(Number(port)).toBeGreaterThan(0);
    expect(ready.public_url).toBe(`http://localhost:${port}`);
    const warning = logs.find((l) => l.level === 40 && l.public_url)!;
    expect(warning.msg).toBe(
      `⚠️ PUBLIC_URL is not set, so webhook URLs start with http://localhost:${port}: Sentry's servers cannot reach it (only a self-hosted Sentry on the same network can). Set PUBLIC_URL to the https:// address Sentry reaches Dispatch at, and restart`,
    );
  });
});
