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

describe('npm start', () => {
  it('builds, then runs the compiled JavaScript with plain node: migrations found, gateway ready, events delivered, SIGTERM exits 0', async () => {
    await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 120_000 });
    const args = productionArgs();
    expect(args.at(-1)).toBe('dist/src/index.js');
    expect(args.join(' ')).not.toContain('tsx');

    const { discord, source, env, cleanup } = await preparedDatabase();
    cleanups.push(cleanup);
    const child: ChildDispatch = await startChild(env(), args);
    cleanups.push(() => void child.process.kill('SIGKILL'));
    // Nothing compiles TypeScript at run time: no tsx in the process.
    expect(readFileSync(`/proc/${child.process.pid}/cmdline`, 'utf8')).not.toContain('tsx');
    await expect.poll(() => child.logs.some((l) => l.msg === 'Discord gateway ready'), { timeout: 10_000 }).toBe(true);
    expect((await fetch(`${child.url}/healthz`)).status).toBe(200);

    const request = sentryRequest('issue', loadFixture('issue.created.json'), 'sek');
    expect((await fetch(`${child.url}/hooks/${source.slug}`, { method: 'POST', ...request })).status).toBe(202);
    await discord.waitForMessage((m) => m.channel_id === source.channelId);

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });
});
