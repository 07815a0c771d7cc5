import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { productionArgs, startChild, type ChildDispatch } from '../support/child.js';
import { preparedDatabase } from '../support/harness.js';
import { loadFixture, sentryRequest } from '../support/sentry.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The processes `pid` started, from /proc (Linux). */
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);

describe('npm start', () => {
  it('runs the compiled JavaScript with plain node: migrations found, gateway ready, events delivered, SIGTERM to npm exits 0', async () => {
    const args = productionArgs();
    expect(args.at(-1)).toBe('dist/src/index.js');
    expect(args.join(' ')).not.toContain('tsx');

    // Built beforehand, so that the start below is a restart (what users do most); the build when stale is start-script.test.ts's.
    await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 180_000 });
    const { discord, source, env, cleanup } = await preparedDatabase();
    cleanups.push(cleanup);
    // As users run it: npm, then the shell it runs the script in, which becomes node (`exec`).
    const npm: ChildDispatch = await startChild(env(), ['start', '--silent'], 'npm');
    cleanups.push(() => void npm.process.kill('SIGKILL'));
    const [dispatch] = childrenOf(npm.process.pid!);
    cleanups.push(() => {
      try {
        process.kill(dispatch!, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    });
    const cmdline = readFileSync(`/proc/${dispatch}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('dist/src/index.js');
    // Nothing compiles TypeScript at run time: no tsx in the process.
    expect(cmdline.join(' ')).not.toContain('tsx');
    await expect.poll(() => npm.logs.some((l) => l.msg === 'Discord gateway ready'), { timeout: 10_000 }).toBe(true);
    expect((await fetch(`${npm.url}/healthz`)).status).toBe(200);

    const request = sentryRequest('issue', loadFixture('issue.created.json'), 'sek');
    expect((await fetch(`${npm.url}/hooks/${source.slug}`, { method: 'POST', ...request })).status).toBe(202);
    await discord.waitForMessage((m) => m.channel_id === source.channelId);

    // A process manager stops npm: the signal reaches Dispatch, which shuts down cleanly.
    npm.process.kill('SIGTERM');
    expect(await npm.exited).toBe(0);
    expect(npm.logs.at(-1)?.msg).toBe('stopped');
  }, 180_000);
});
