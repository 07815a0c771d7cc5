import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStorageConfig } from '../../src/config.js';
import { storagePathProblems } from '../../src/db/storage-paths.js';
import { tempDir } from '../support/harness.js';

/** The path checks start-up runs before anything is loaded (the permission cases run as a process: start-problems.test.ts). */
const dir = tempDir('dispatch-paths-');
afterAll(() => dir.remove());
const aFile = join(dir.path, 'a-file');
writeFileSync(aFile, '');
const aFolder = join(dir.path, 'a-folder');
mkdirSync(aFolder);
const problems = (env: Record<string, string>) => storagePathProblems(loadStorageConfig(env), 'the user test');

describe('the database and key file paths', () => {
  it('a path that can be made, or a file that is there, is fine; so is Postgres, whatever DATABASE_PATH says', () => {
    expect(problems({ DATABASE_PATH: join(dir.path, 'new', 'deeper', 'dispatch.db') })).toEqual([]);
    expect(problems({ DATABASE_PATH: join(aFolder, 'dispatch.db') })).toEqual([]);
    expect(problems({ DATABASE_PATH: ':memory:' })).toEqual([]);
    expect(problems({ DATABASE_URL: 'postgres://db/d', DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64), DATABASE_PATH: aFolder })).toEqual([]);
  });

  it('the default key file shares the database folder: a problem with it is said once, for DATABASE_PATH', () => {
    expect(problems({ DATABASE_PATH: join(aFile, 'deeper', 'dispatch.db') })).toEqual([
      `DATABASE_PATH ${join(aFile, 'deeper', 'dispatch.db')} cannot be made: ${aFile} is a file, not a folder; choose another path`,
    ]);
  });

  it('DISPATCH_KEY_FILE is checked in its own right: a folder, or a path under a file, names it; not when the key is a variable', () => {
    const database = join(dir.path, 'dispatch.db');
    expect(problems({ DATABASE_PATH: database, DISPATCH_KEY_FILE: aFolder })).toEqual([
      `DISPATCH_KEY_FILE ${aFolder} is a folder: name a file in it, e.g. DISPATCH_KEY_FILE=${join(aFolder, 'dispatch.key')}`,
    ]);
    expect(problems({ DATABASE_URL: 'postgres://db/d', DISPATCH_KEY_FILE: join(aFile, 'k') })).toEqual([
      `DISPATCH_KEY_FILE ${join(aFile, 'k')} cannot be made: ${aFile} is a file, not a folder; choose another path`,
    ]);
    expect(problems({ DATABASE_PATH: database, DISPATCH_KEY_FILE: aFolder, DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64) })).toEqual([]);
  });
});
