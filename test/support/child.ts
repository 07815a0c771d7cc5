import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildDispatch {
  url: string;
  process: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/**
 * The node arguments of `npm start` (the build check it loads first, its flags and the compiled
 * entry point), from package.json. Its `exec` makes the shell npm runs it in become node, so that
 * the SIGTERM npm passes on reaches Dispatch.
 */
export function productionArgs(): string[] {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const [exec, node, ...args] = start.split(/\s+/).filter(Boolean);
  if (exec !== 'exec' || node !== 'node') throw new Error(`npm start is not \`exec node …\`: ${start}`);
  return args;
}

/** A program of src/ (`index`, `backup`, `deploy-commands`) compiled: dist/ is built once per test run by test/support/build-setup.ts. */
export const compiled = (program: string): string => join(ROOT, `dist/src/${program}.js`);

/**
 * Runs Dispatch in its own process: the compiled program (dist/, built for the run), or with
 * `args`, e.g. `productionArgs()` (npm start's flags; it builds first if dist/ is stale), or
 * another `command` (`npm`, with `['start']`).
 */
export async function startChild(
  env: Record<string, string>,
  args: string[] = [compiled('index')],
  command = process.execPath,
): Promise<ChildDispatch> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_PRETTY: 'false', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start: ${stderr}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'webhook listener ready') {
          clearTimeout(timer);
          resolve(String(entry.url));
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
  return { url, process: child, logs, exited };
}

/** A process's peak resident set size so far (Linux: VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'))!;
  return Number(/(\d+)/.exec(line)![1]) / 1024;
}
