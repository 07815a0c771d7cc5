import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global set-up: dist/ compiled once for the run (when the sources are newer than the last
 * build, as `npm start` decides), so that every test starting Dispatch as a process runs the
 * compiled JavaScript, as `npm start` does, instead of compiling the program again through tsx in
 * each child (a second or more of CPU per start on a 2-core machine). In a child process, so
 * that a failed build fails the run with the build's own message.
 */
export default function setup() {
  execFileSync(process.execPath, ['--import', './scripts/build-if-stale.mjs', '--eval', ''], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: 'inherit',
  });
}
