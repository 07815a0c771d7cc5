import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { productionArgs } from '../support/child.js';
import { tempDir } from '../support/harness.js';

/**
 * `npm start` builds only when it must. Played in a small project of its own (one source file, the
 * real scripts and start command, this checkout's node_modules), so the real dist/ is never touched.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir('dispatch-start-');
afterAll(() => dir.remove());

const project = dir.path;
mkdirSync(join(project, 'src'));
mkdirSync(join(project, 'migrations'));
mkdirSync(join(project, 'scripts'));
for (const script of ['build.mjs', 'build-if-stale.mjs']) copyFileSync(join(ROOT, 'scripts', script), join(project, 'scripts', script));
symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
writeFileSync(
  join(project, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', rootDir: '.', types: ['node'], strict: true },
    include: ['src'],
  }),
);
writeFileSync(join(project, 'src/index.ts'), "console.log(`started with ${process.execArgv.join(' ')}`);\n");

/** Runs the start command of package.json in the small project, as `npm start` runs it in this one. */
async function start() {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, productionArgs(), { cwd: project, timeout: 60_000 });
  return { stdout, stderr };
}
const stampTime = () => statSync(join(project, 'dist/.build-stamp')).mtimeMs;
/** The last build as if made a minute ago, so that anything written since is newer. */
function buildMinuteAgo() {
  const earlier = new Date(Date.now() - 60_000);
  utimesSync(join(project, 'dist/.build-stamp'), earlier, earlier);
}

describe('npm start', () => {
  it('builds first when dist/ is missing, with the node flags of the start command', async () => {
    const { stdout, stderr } = await start();
    expect(stderr).toContain('dispatch: building (dist/ is missing)');
    expect(stdout).toContain('started with --import ./scripts/build-if-stale.mjs --max-semi-space-size=4 --max-old-space-size=128');
    expect(readFileSync(join(project, 'dist/src/index.js'), 'utf8')).toContain('started with');
  });

  it('starts at once when the sources have not changed since the last build', async () => {
    const before = stampTime();
    const { stdout, stderr } = await start();
    expect(stderr).toBe('');
    expect(stdout).toContain('started with');
    expect(stampTime()).toBe(before);
  });

  it('builds again once a source is newer than the last build, and runs what it built', async () => {
    buildMinuteAgo();
    writeFileSync(join(project, 'src/index.ts'), "console.log('started, changed');\n");
    const { stdout, stderr } = await start();
    expect(stderr).toContain('dispatch: building (src changed since the last build)');
    expect(stdout).toContain('started, changed');
    expect((await start()).stderr).toBe('');
  });

  it('a changed tsconfig.json or package.json counts as a change too', async () => {
    for (const file of ['tsconfig.json', 'package.json']) {
      const longAgo = new Date(Date.now() - 120_000);
      for (const path of ['src/index.ts', 'src', 'migrations', 'tsconfig.json', 'package.json'])
        utimesSync(join(project, path), longAgo, longAgo);
      buildMinuteAgo();
      const now = new Date();
      utimesSync(join(project, file), now, now);
      expect((await start()).stderr).toContain(`building (${file} changed since the last build)`);
      expect((await start()).stderr).toBe('');
    }
  });
});
