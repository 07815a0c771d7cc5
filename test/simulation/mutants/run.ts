/**
 * `npm run test:mutants [-- [--runs N] [--jobs N] [--sim-runs N] [--seed S] [--shrink] [--keep] [--no-verify] [--json FILE] [name…]]`
 *
 * Mutation testing of the simulation (issue 34): each patch in this folder puts back a bug this
 * project really had. For each one (or those whose names contain one of the given names), N times
 * (`--runs`, 1 by default): the repository is copied to a temporary directory (node_modules
 * linked), the patch applied, and the simulation run as CI runs it (SQLite, SIM_RUNS=200) with a
 * fresh seed. A mutant is killed when the simulation fails and the story that failed passes
 * without the patch (replayed alone in an unpatched copy: SIM_SEED and SIM_PATH; `--no-verify`
 * skips it); a story that fails without the patch too is `unmutated-fails`, a finding of its own.
 * It survived when all its stories pass.
 * Prints a table (mutant, killed or survived, stories until the first failure, time, seed) and
 * exits non-zero if any mutant survived a run, or could not be applied or run.
 *
 * Every patch is checked to apply cleanly before anything runs. The copy skips vitest's global
 * set-up (the build of dist/: the simulation runs the sources) and fast-check's shrinking (a kill
 * is a kill; `--shrink` to get the shortest story, with the replay line). One vitest at a time, or
 * `--jobs N` side by side (each with its own copies: on a 2-core machine, 2).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** What the simulation needs of the repository (and what vitest's configuration names). */
const COPIED = ['src', 'commands', 'test', 'bench', 'migrations', 'scripts', 'package.json', 'tsconfig.json', 'vitest.config.ts'];
const SIMULATION = 'test/simulation/simulation.test.ts';
/** A run that takes longer than this is stopped and counted as an error (a passing run at CI's budget takes 2-3 minutes). */
const RUN_TIMEOUT_MS = 20 * 60_000;

interface Options {
  runs: number;
  /** Runs side by side. */
  jobs: number;
  simRuns: number;
  seed?: number;
  shrink: boolean;
  keep: boolean;
  /** Replay each killing story without the patch (on by default; `--no-verify`). */
  verify: boolean;
  json?: string;
  names: string[];
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 1, jobs: 1, simRuns: 200, shrink: false, keep: false, verify: true, names: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--jobs') options.jobs = Number(value());
    else if (arg === '--sim-runs') options.simRuns = Number(value());
    else if (arg === '--seed') options.seed = Number(value());
    else if (arg === '--shrink') options.shrink = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--no-verify') options.verify = false;
    else if (arg === '--json') options.json = value();
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else options.names.push(arg);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error('--runs takes a positive whole number');
  if (!Number.isInteger(options.jobs) || options.jobs < 1) throw new Error('--jobs takes a positive whole number');
  return options;
}

interface Mutant {
  name: string;
  patch: string;
  /** The patch's first lines before its diff: what bug it puts back. */
  about: string;
}

function mutants(names: readonly string[]): Mutant[] {
  const all = readdirSync(HERE)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => {
      const patch = join(HERE, f);
      const text = readFileSync(patch, 'utf8');
      const about = text.slice(0, Math.max(0, text.search(/^(diff --git|--- )/m))).trim();
      return { name: basename(f, '.patch'), patch, about: about.split('\n')[0] ?? '' };
    });
  const chosen = names.length === 0 ? all : all.filter((m) => names.some((n) => m.name.includes(n)));
  if (chosen.length === 0) throw new Error(`no mutant matches ${names.join(', ')} (have: ${all.map((m) => m.name).join(', ')})`);
  return chosen;
}

/** A fresh copy of the repository with node_modules linked; `git apply` works there as `patch -p1` does. */
function copyWith(mutant: Mutant | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), `dispatch-mutant-${mutant?.name ?? 'none'}-`));
  for (const entry of COPIED) if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  // The simulation alone, without the global set-up's build of dist/ (nothing in it starts Dispatch as a process).
  writeFileSync(
    join(dir, 'vitest.mutant.config.ts'),
    `import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { include: ['${SIMULATION}'], pool: 'forks', maxWorkers: 1, testTimeout: 30_000, hookTimeout: 30_000 } });\n`,
  );
  if (mutant) {
    const applied = spawnSync('git', ['apply', '-p1', mutant.patch], { cwd: dir, encoding: 'utf8' });
    if (applied.status !== 0) throw new Error(`${mutant.name}: the patch does not apply: ${applied.stderr}`);
  }
  return dir;
}

/** Each patch applies cleanly to the repository as it is: checked before anything runs, so a stale mutant fails loudly. */
function checkPatches(list: readonly Mutant[]): void {
  const stale = list.flatMap((m) => {
    const checked = spawnSync('git', ['apply', '--check', '-p1', m.patch], { cwd: ROOT, encoding: 'utf8' });
    return checked.status === 0 ? [] : [`${m.name}: ${checked.stderr.trim()}`];
  });
  if (stale.length > 0) {
    console.error(
      `These mutants no longer apply to the code (find where the bug would live now and write the patch again):\n${stale.join('\n')}`,
    );
    process.exit(2);
  }
}

interface Outcome {
  mutant: string;
  /** `unmutated-fails`: the story that failed fails without the patch too (a failure of the simulation or of src/, not a kill). */
  result: 'killed' | 'survived' | 'error' | 'unmutated-fails';
  /** Stories run until the first failure (fast-check's "Property failed after N tests"). */
  stories?: number;
  seconds: number;
  seed: number;
  /** What failed first, in a line (the assertion's message). */
  why?: string;
  replay?: string;
  /** fast-check's path to the failing story (with the seed, replays it alone). */
  path?: string;
}

/** The runs under way, stopped and their copies removed when this process is interrupted. */
const current = new Set<{ dir: string; stop: () => void }>();
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    for (const run of current) {
      run.stop();
      rmSync(run.dir, { recursive: true, force: true });
    }
    process.exit(130);
  });

function runSimulation(dir: string, mutant: string, seed: number, options: Options, replayPath?: string): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.mutant.config.ts'], {
      cwd: dir,
      env: {
        ...process.env,
        DISPATCH_TEST_DIALECT: 'sqlite',
        // A replay runs the one story its path names (fast-check goes on from there up to numRuns).
        SIM_RUNS: String(replayPath === undefined ? options.simRuns : Number(replayPath.split(':')[0]) + 1),
        SIM_SEED: String(seed),
        ...(options.shrink && replayPath === undefined ? {} : { SIM_SHRINK: '0' }),
        ...(replayPath === undefined ? {} : { SIM_PATH: replayPath }),
        FORCE_COLOR: '0',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: stopped with its workers.
      detached: true,
    });
    const stop = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const running = { dir, stop };
    current.add(running);
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    const timer = setTimeout(stop, RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      current.delete(running);
      if (options.keep) writeFileSync(join(dir, 'mutant-run.log'), output);
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const failed = /Property failed after (\d+) tests/.exec(output);
      const path = /\{ seed: (-?\d+), path: "([^"]*)"/.exec(output);
      const after = failed ? output.slice(failed.index) : output;
      const why = (/Got error: (?:AssertionError: )?(.*)/.exec(after) ??
        /AssertionError: (.*)/.exec(after) ??
        /Error: (.*)/.exec(after))?.[1]
        ?.trim()
        .slice(0, 160);
      const base = { mutant, seconds, seed };
      if (failed)
        return resolve({
          ...base,
          result: 'killed',
          stories: Number(failed[1]),
          ...(why ? { why } : {}),
          ...(path ? { replay: `SIM_SEED=${path[1]} SIM_PATH=${path[2]}`, path: path[2]! } : {}),
        });
      if (code === 0 && /1 passed/.test(output)) return resolve({ ...base, result: 'survived' });
      // Not the simulation failing: the copy did not build, a run timed out, vitest itself broke.
      const tail = output.trim().split('\n').slice(-15).join('\n');
      resolve({ ...base, result: 'error', why: `exit ${code}: ${tail.slice(-600)}` });
    });
  });
}

function table(rows: readonly Outcome[]): string {
  const header = ['mutant', 'result', 'stories', 'time', 'seed', 'first failure'];
  const cells = rows.map((r) => [
    r.mutant,
    r.result,
    r.stories === undefined ? '-' : String(r.stories),
    `${r.seconds.toFixed(1)} s`,
    String(r.seed),
    (r.why ?? '').replace(/\s+/g, ' ').slice(0, 90),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

function summary(rows: readonly Outcome[], list: readonly Mutant[]): string {
  const lines = ['', 'mutant                     killed  stories to first failure (min / median / max)'];
  for (const m of list) {
    const mine = rows.filter((r) => r.mutant === m.name);
    const killed = mine.filter((r) => r.result === 'killed');
    const stories = killed.map((r) => r.stories!).sort((a, b) => a - b);
    const spread =
      stories.length === 0 ? '-' : `${stories[0]} / ${stories[Math.floor((stories.length - 1) / 2)]} / ${stories[stories.length - 1]}`;
    lines.push(`${m.name.padEnd(26)} ${`${killed.length}/${mine.length}`.padStart(6)}  ${spread}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const list = mutants(options.names);
  checkPatches(list);
  console.log(
    `${list.length} mutant(s), ${options.runs} run(s) each, SIM_RUNS=${options.simRuns} on SQLite:\n${list.map((m) => `  ${m.name}: ${m.about}`).join('\n')}\n`,
  );
  const rows: Outcome[] = [];
  const total = list.length * options.runs;
  const queue = Array.from({ length: total }, (_, n) => ({ n, mutant: list[n % list.length]! }));
  let done = 0;
  /** One job: takes the next run until none is left; a copy without any patch, made at its first kill to verify. */
  const job = async () => {
    let plain: string | undefined;
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { n, mutant } = next;
      const seed = options.seed !== undefined ? options.seed + n : (Date.now() + n * 7919) % 2 ** 31;
      const dir = copyWith(mutant);
      try {
        let outcome = await runSimulation(dir, mutant.name, seed, options);
        // A kill counts only if the story that failed passes without the patch (a story the unmutated code fails is a finding of its own).
        if (options.verify && outcome.result === 'killed' && outcome.path !== undefined) {
          plain ??= copyWith(undefined);
          const again = await runSimulation(plain, mutant.name, seed, options, outcome.path);
          if (again.result !== 'survived')
            outcome = { ...outcome, result: 'unmutated-fails', why: `without the patch too: ${again.why ?? again.result}` };
        }
        rows.push(outcome);
        if (options.json) appendFileSync(options.json, `${JSON.stringify(outcome)}\n`);
        const detail =
          outcome.result === 'killed'
            ? `after ${outcome.stories} stories: ${outcome.why ?? ''}`
            : outcome.result === 'error'
              ? outcome.why
              : '';
        console.log(`[${++done}/${total}] ${mutant.name} ${outcome.result} in ${outcome.seconds} s (seed ${seed}) ${detail}`);
        if (outcome.replay) console.log(`    replay: (cd to a copy with the patch applied) ${outcome.replay} SIM_RUNS=${options.simRuns}`);
      } finally {
        if (options.keep) console.log(`    kept ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      }
    }
    if (plain) rmSync(plain, { recursive: true, force: true });
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, total) }, job));
  rows.sort((a, b) => list.findIndex((m) => m.name === a.mutant) - list.findIndex((m) => m.name === b.mutant));
  console.log(`\n${table(rows)}`);
  console.log(summary(rows, list));
  const bad = rows.filter((r) => r.result !== 'killed');
  if (bad.length > 0) {
    console.log(`\n${bad.length} run(s) not killed: ${[...new Set(bad.map((r) => `${r.mutant} (${r.result})`))].join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
