// @ts-check
/**
 * `npm run build`: the TypeScript compiled to dist/, the migrations copied beside it, and a stamp
 * saying when the sources were read. `npm start` (scripts/build-if-stale.mjs) compares the
 * sources with that stamp to decide whether to build before starting. Plain JavaScript with no
 * dependencies: it runs before anything is compiled.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What the compiled program is made of: a change to any of these makes dist/ stale. */
export const SOURCES = ['src', 'commands', 'migrations', 'tsconfig.json', 'package.json'];
export const STAMP = 'dist/.build-stamp';
const LOCK = 'dist/.build-lock';
/** A lock older than this was left by a build that died: builds take seconds. */
const STALE_LOCK_MS = 5 * 60_000;

/** The newest modification time under `path` (a file, or a folder and everything in it; folders count, so a deleted file counts). */
function newestChange(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestChange(join(path, entry)));
  return newest;
}

/** Why dist/ must be built again before it runs, or undefined when it is up to date. */
export function staleReason(root) {
  const stamp = statSync(join(root, STAMP), { throwIfNoEntry: false });
  if (!stamp) return existsSync(join(root, 'dist')) ? 'dist/ was not built by npm run build' : 'dist/ is missing';
  const changed = SOURCES.find((source) => newestChange(join(root, source)) > stamp.mtimeMs);
  return changed === undefined ? undefined : `${changed} changed since the last build`;
}

/** Runs `work` while holding the build lock, so that two builds (two starts, a test and a start) never write dist/ together. */
function withBuildLock(root, work) {
  const lock = join(root, LOCK);
  mkdirSync(join(root, 'dist'), { recursive: true });
  const waitUntil = Date.now() + STALE_LOCK_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS || Date.now() > waitUntil) rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** tsc, as installed with the dev dependencies (its package exports no bin path: read it from its package.json). */
function tscPath(root) {
  const manifest = createRequire(join(root, 'package.json')).resolve('typescript/package.json');
  return join(dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.tsc);
}

function compile(root) {
  // The stamp gets the time the sources were read, so that an edit made during the build still counts as newer.
  const startedAt = new Date();
  const args = ['-p', 'tsconfig.json', '--noEmit', 'false', '--outDir', 'dist', '--incremental', '--tsBuildInfoFile', 'dist/.tsbuildinfo'];
  const result = spawnSync(process.execPath, [tscPath(root), ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
  cpSync(join(root, 'migrations'), join(root, 'dist/migrations'), { recursive: true });
  writeFileSync(join(root, STAMP), `${startedAt.toISOString()}\n`);
  utimesSync(join(root, STAMP), startedAt, startedAt);
}

/** `npm run build`: always compiles (tsc's incremental build makes an unchanged tree quick). */
export function build(root) {
  withBuildLock(root, () => compile(root));
}

/** Compiles only when the sources are newer than the last build; says why on stderr when it does. */
export function buildIfStale(root) {
  const reason = staleReason(root);
  if (reason === undefined) return false;
  return withBuildLock(root, () => {
    // Another start may have built it while this one waited for the lock.
    if (staleReason(root) === undefined) return false;
    process.stderr.write(`dispatch: building (${reason})…\n`);
    compile(root);
    return true;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    build(process.cwd());
  } catch (error) {
    process.stderr.write(`dispatch: ${/** @type {Error} */ (error).message}\n`);
    process.exit(1);
  }
}
