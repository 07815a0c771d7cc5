import { execFile, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedDatabase, tempDir } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

/**
 * The production install, from a clean clone, as an operator makes it: `git clone`, `npm ci
 * --omit=dev` (no TypeScript, no test tools), `npm start`. Slow, because npm ci installs from the
 * registry and compiles better-sqlite3 where no prebuilt binary can be downloaded (about a minute
 * and a half on 2 cores), so it runs apart from `npm test`: `npm run test:install` (CI runs both).
 * It clones the repository's committed HEAD.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir('dispatch-install-');
const clone = join(dir.path, 'dispatch');
afterAll(() => dir.remove());

/** This process's environment without what an enclosing `npm run` adds (npm_config_*, npm_lifecycle_*…), as a shell has it. */
const shellEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))) as Record<string, string>;

const run = (command: string, args: string[], cwd = clone) =>
  promisify(execFile)(command, args, { cwd, env: shellEnv, encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });

/** `npm start --silent` in the clone with `env`: its stderr lines, its JSON log lines, and its exit. */
function npmStart(env: Record<string, string>) {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: clone,
    env: { PATH: shellEnv.PATH!, HOME: shellEnv.HOME!, LOG_PRETTY: 'false', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errors: string[] = [];
  const logs: { msg: string; url?: string }[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => errors.push(line));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{')) logs.push(JSON.parse(line) as { msg: string });
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, errors, logs, exited };
}

/** The first log line saying `msg`; fails when npm start ends first, or has said nothing of it for two minutes. */
async function logged(start: ReturnType<typeof npmStart>, msg: string): Promise<{ msg: string; url?: string }> {
  const giveUpAt = Date.now() + 120_000;
  for (;;) {
    const found = start.logs.find((l) => l.msg === msg);
    if (found) return found;
    const ended = await Promise.race([start.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);
    if (ended || Date.now() > giveUpAt)
      throw new Error(`npm start ${ended ? 'ended' : 'said nothing'} before "${msg}": ${start.errors.join('\n')}`);
  }
}

beforeAll(async () => {
  await run('git', ['clone', '--quiet', ROOT, clone], dir.path);
});

describe('a production install from a clean clone', () => {
  it('installed with scripts skipped, npm start says in one line to rebuild better-sqlite3, and exits 1', async () => {
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']);
    const { env, cleanup } = await preparedDatabase();
    try {
      const start = npmStart(env());
      expect(await start.exited).toBe(1);
      expect(start.errors).toEqual([
        'dispatch: building (dist/ is missing)…',
        "dispatch: could not start: better-sqlite3's native module is not built (its install script did not run, e.g. `npm ci --ignore-scripts`): run `npm rebuild better-sqlite3`",
      ]);
    } finally {
      await cleanup();
    }
  });

  it('npm ci --omit=dev, then npm start: builds dist/ without the dev dependencies, takes a webhook, posts it, and stops on SIGTERM', async () => {
    const install = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund']);
    // Every install script is reviewed in package.json's allowScripts (npm 11 warns of, and will
    // block, the others): better-sqlite3's compiles its native module, which Dispatch needs.
    expect(install.stderr).not.toMatch(/install-scripts|allowScripts/);
    expect(existsSync(join(clone, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    for (const devOnly of ['typescript', 'vitest', 'tsx', 'prettier'])
      expect(existsSync(join(clone, 'node_modules', devOnly)), devOnly).toBe(false);
    // Built by nothing but what the production install holds (the run above built it once already).
    rmSync(join(clone, 'dist'), { recursive: true, force: true });
    const { discord, source, env, cleanup } = await preparedDatabase();
    const start = npmStart(env());
    try {
      const ready = await logged(start, 'webhook listener ready');
      await logged(start, 'Discord gateway ready');
      expect(start.errors).toEqual(['dispatch: building (dist/ is missing)…']);
      const response = await fetch(`${ready.url}/hooks/${source.slug}`, {
        method: 'POST',
        ...sentryRequest('issue', loadFixture('issue.created.json'), 'sek'),
      });
      expect(response.status).toBe(202);
      await discord.waitForMessage((m) => m.channel_id === source.channelId);
      // A process manager stops npm: Dispatch exits 0 only once its stop has finished (src/run.ts).
      start.child.kill('SIGTERM');
      expect(await start.exited).toBe(0);
      expect(start.logs.map((l) => l.msg)).toContain('shutting down');
    } finally {
      start.child.kill('SIGKILL');
      await cleanup();
    }
  });
});
