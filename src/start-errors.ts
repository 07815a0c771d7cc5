import type { Config } from './config.js';

/**
 * A start-up failure in one line naming the setting and the fix, for what an operator meets on a
 * first install: the port taken, the address not this machine's, Postgres's host not found, SQLite's
 * native module missing, a database file SQLite cannot use. Anything else keeps its own message.
 */
export function startFailure(
  error: unknown,
  config: Pick<Config, 'port' | 'host' | 'databasePath'> & Partial<Pick<Config, 'databaseUrl'>>,
): string {
  const {
    code,
    message = String(error),
    syscall,
    hostname,
  } = (error ?? {}) as {
    code?: string;
    message?: string;
    syscall?: string;
    hostname?: string;
  };
  switch (code) {
    case 'EADDRINUSE':
      return `PORT ${config.port} is already in use on HOST ${config.host} (another Dispatch, or another program, listens there): stop it, or set PORT to a free port`;
    case 'EACCES':
      if (/\blisten\b/.test(message))
        return `PORT ${config.port} is below 1024, which this user may not listen on: set PORT=3000 (the default) and put a reverse proxy in front (README: Behind a reverse proxy)`;
      break;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN': {
      // Postgres's host is looked up too: a name DATABASE_URL gives that does not resolve is not HOST's fault.
      const database = databaseHost(config.databaseUrl);
      if (database !== undefined && hostname === database)
        return `DATABASE_URL names the host ${database}, which this machine cannot resolve (${code}): check the host in DATABASE_URL and this machine's DNS`;
      if (syscall === 'listen' || /^listen\b/.test(message) || hostname === config.host)
        return `HOST ${config.host} is not an address of this machine: set HOST to 0.0.0.0 (every address), 127.0.0.1 (this machine only) or one of its own addresses`;
      break;
    }
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
      return `DATABASE_PATH ${config.databasePath}: SQLite says "${message}": the file and its folder must be writable by the user Dispatch runs as (SQLite writes -wal and -shm files beside it)`;
    case 'SQLITE_NOTADB':
      return `DATABASE_PATH ${config.databasePath} is not an SQLite database: point DATABASE_PATH at Dispatch's database, or at a file that does not exist yet`;
  }
  const native = nativeModuleProblem(message);
  if (native) return native;
  return message;
}

/** The host DATABASE_URL names (never its user or password), if it has one. */
function databaseHost(databaseUrl: string | undefined): string | undefined {
  if (!databaseUrl || !URL.canParse(databaseUrl)) return undefined;
  return new URL(databaseUrl).hostname.replace(/^\[|\]$/g, '') || undefined;
}

/** better-sqlite3's compiled part: missing (its install script did not run) or built for another Node.js. */
export function nativeModuleProblem(message: string): string | undefined {
  if (/Could not locate the bindings file/.test(message))
    return "better-sqlite3's native module is not built (its install script did not run, e.g. `npm ci --ignore-scripts`): run `npm rebuild better-sqlite3`";
  if (/better_sqlite3\.node/.test(message) && /NODE_MODULE_VERSION|different Node\.js version|invalid ELF|wrong ELF/.test(message))
    return `better-sqlite3's native module was built for another Node.js than ${process.version}: run \`npm rebuild better-sqlite3\``;
  return undefined;
}
