// @ts-check
/**
 * Loaded by `npm start` before the compiled entry point (`node --import`): builds dist/ first when
 * the sources are newer than the last build, or when there is none, and otherwise does nothing, so
 * a restart is a plain start. In the same process, so signals and the pid are Dispatch's own.
 */
import { fileURLToPath } from 'node:url';
import { buildIfStale } from './build.mjs';

try {
  buildIfStale(fileURLToPath(new URL('..', import.meta.url)));
} catch (error) {
  process.stderr.write(`dispatch: could not build: ${/** @type {Error} */ (error).message}\n`);
  process.exit(1);
}
