import { ConfigError, loadConfig, loadStorageConfig, type Config } from './config.js';
import { storagePathProblems } from './db/storage-paths.js';
import { readEnvironment } from './env-file.js';

/**
 * Start-up: the configuration is read and checked first, with only what that needs loaded, so a
 * mistake is reported in a fraction of a second, every bad variable at once, one line each; the
 * rest of the bot is loaded only then (src/run.ts).
 */
const config = checkedConfig();
const { run } = await import('./run.js');
await run(config);

function checkedConfig(): Config {
  const problems: string[] = [];
  const env = environment(problems);
  const config = env && collect(problems, () => loadConfig(env));
  // The files are checked even when another variable is wrong, so that one run reports everything.
  const storage = env && collect(problems, () => loadStorageConfig(env), { silently: true });
  if (storage) problems.push(...storagePathProblems(storage));
  if (config && problems.length === 0) return config;
  for (const problem of problems) console.error(`dispatch: configuration error: ${problem}`);
  process.exit(1);
}

function environment(problems: string[]): NodeJS.ProcessEnv | undefined {
  try {
    return readEnvironment(process.env, process.cwd());
  } catch (error) {
    problems.push(`.env cannot be read: ${(error as Error).message}`);
    return undefined;
  }
}

/** The result of `load`, or undefined with its problems added (unless already reported by another load). */
function collect<T>(problems: string[], load: () => T, { silently = false } = {}): T | undefined {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (!silently) problems.push(...error.problems);
    return undefined;
  }
}
