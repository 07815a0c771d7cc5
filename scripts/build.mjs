// @ts-check
/**
 * `npm run build`: the TypeScript of the program (src/, commands/) turned into JavaScript in dist/
 * by esbuild, the migrations copied beside it, and a stamp saying when the sources were read.
 * `npm start` (scripts/build-if-stale.mjs) compares the sources with that stamp to decide whether
 * to build before starting. Plain JavaScript: it runs before anything is compiled.
 *
 * Why esbuild and not tsc: building is part of starting, so it must work in a production install
 * (`npm ci --omit=dev`), where the dev dependencies are absent. esbuild is one runtime dependency
 * (a prebuilt binary per platform) and strips the types file by file (the code is written for it:
 * `isolatedModules`); tsc would need TypeScript and every `@types` package at run time. Types are
 * checked where they are written: `npm run typecheck` and `npm test`.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What the compiled program is made of: a change to any of these makes dist/ stale. */
export const SOURCES = ['src', 'commands', 'migrations', 'tsconfig.json', 'package.json'];
/** The folders compiled into dist/ (the program; tests, the bench and the demo run from source). */
const PROGRAM = ['src', 'commands'];
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

/** Every TypeScript file under `path` (declaration files aside); none when there is no such folder. */
function typescriptFiles(path) {
  if (!existsSync(path)) return [];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

function compile(root) {
  // The stamp gets the time the sources were read, so that an edit made during the build still counts as newer.
  const startedAt = new Date();
  // Resolved from the project, as a dependency of Dispatch (this file is copied into test projects).
  const esbuild = createRequire(join(root, 'package.json'))('esbuild');
  const result = esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: PROGRAM.flatMap((folder) => typescriptFiles(join(root, folder))),
    outdir: join(root, 'dist'),
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'silent',
  });
  for (const warning of result.warnings) process.stderr.write(`dispatch: build warning: ${warning.text}\n`);
  rmSync(join(root, 'dist/migrations'), { recursive: true, force: true });
  cpSync(join(root, 'migrations'), join(root, 'dist/migrations'), { recursive: true });
  writeFileSync(join(root, STAMP), `${startedAt.toISOString()}\n`);
  utimesSync(join(root, STAMP), startedAt, startedAt);
}

/** `npm run build`: always compiles (well under a second). */
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
