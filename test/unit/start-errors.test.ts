import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startFailure } from '../../src/start-errors.js';
import { tempDir } from '../support/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir('dispatch-binding-');
afterAll(() => dir.remove());
const config = { port: 3000, host: '0.0.0.0', databasePath: './data/dispatch.db' };

describe('a start-up failure in one line', () => {
  it('better-sqlite3 installed without its install script (no native module): says to run npm rebuild, not the 14 paths it tried', () => {
    // The real package, as `npm ci --ignore-scripts` leaves it: its JavaScript, and no build/ folder.
    const modules = join(dir.path, 'node_modules');
    mkdirSync(join(modules, 'better-sqlite3'), { recursive: true });
    for (const part of ['package.json', 'lib'])
      cpSync(join(ROOT, 'node_modules/better-sqlite3', part), join(modules, 'better-sqlite3', part), { recursive: true });
    for (const dependency of ['bindings', 'file-uri-to-path'])
      symlinkSync(join(ROOT, 'node_modules', dependency), join(modules, dependency));
    const Database = createRequire(join(dir.path, 'index.js'))('better-sqlite3') as new (path: string) => unknown;
    let failure: unknown;
    try {
      new Database(':memory:');
    } catch (error) {
      failure = error;
    }
    expect((failure as Error).message).toMatch(/^Could not locate the bindings file\. Tried:\n/);
    const line = startFailure(failure, config);
    expect(line).toBe(
      "better-sqlite3's native module is not built (its install script did not run, e.g. `npm ci --ignore-scripts`): run `npm rebuild better-sqlite3`",
    );
  });

  it('names the setting for what the listener and SQLite refuse, and keeps any other message', () => {
    const error = (code: string, message: string) => Object.assign(new Error(message), { code });
    expect(startFailure(error('EADDRINUSE', 'listen EADDRINUSE: address already in use 0.0.0.0:3000'), config)).toMatch(
      /^PORT 3000 is already in use on HOST 0\.0\.0\.0 .*set PORT to a free port$/,
    );
    expect(startFailure(error('EACCES', 'listen EACCES: permission denied 0.0.0.0:80'), { ...config, port: 80 })).toMatch(
      /^PORT 80 is below 1024/,
    );
    expect(
      startFailure(error('EADDRNOTAVAIL', 'listen EADDRNOTAVAIL: address not available 10.9.9.9:3000'), { ...config, host: '10.9.9.9' }),
    ).toMatch(/^HOST 10\.9\.9\.9 is not an address of this machine/);
    expect(startFailure(error('SQLITE_NOTADB', 'file is not a database'), config)).toMatch(
      /^DATABASE_PATH \.\/data\/dispatch\.db is not an SQLite database/,
    );
    expect(startFailure(new Error('something else'), config)).toBe('something else');
  });

  it("a Postgres host that does not resolve names DATABASE_URL's host, not HOST (the listener's), and never its password", () => {
    // As pg's connection fails (net.connect's lookup), and as the listener's own lookup of HOST fails.
    const lookup = (code: string, hostname: string) =>
      Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, syscall: 'getaddrinfo', hostname });
    const onPostgres = { ...config, databaseUrl: 'postgres://dispatch:s3cret@db.internal:5432/dispatch' };
    for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
      const line = startFailure(lookup(code, 'db.internal'), onPostgres);
      expect(line).toBe(
        `DATABASE_URL names the host db.internal, which this machine cannot resolve (${code}): check the host in DATABASE_URL and this machine's DNS`,
      );
      expect(line).not.toContain('s3cret');
    }
    expect(startFailure(lookup('ENOTFOUND', 'dispatch.invalid'), { ...onPostgres, host: 'dispatch.invalid' })).toMatch(
      /^HOST dispatch\.invalid is not an address of this machine/,
    );
    // Neither: the message as it is, rather than blaming a setting that is fine.
    expect(startFailure(lookup('ENOTFOUND', 'elsewhere.invalid'), onPostgres)).toBe('getaddrinfo ENOTFOUND elsewhere.invalid');
  });
});
