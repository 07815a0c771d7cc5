import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * The settings Dispatch runs with: the environment, over a `.env` file in the working directory
 * when there is one. A variable set in the environment wins over the same one in `.env`, so a
 * service manager or a shell can override the file (`PORT=4000 npm start`).
 */
export function readEnvironment(env: NodeJS.ProcessEnv, cwd: string): NodeJS.ProcessEnv {
  const file = dotEnvText(join(cwd, '.env'));
  return file === undefined ? env : { ...parseEnv(file), ...definedOnly(env) };
}

function dotEnvText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const definedOnly = (env: NodeJS.ProcessEnv) => Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
