import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defaultKeyFile, type Config } from '../config.js';

/**
 * What stops Dispatch from opening its files, checked before anything is loaded so that each
 * problem is one line naming the variable, the path and the fix (SQLite's own words, "unable to
 * open database file", name neither). SQLite in WAL mode writes two files beside the database
 * (`-wal`, `-shm`), so the folder must be writable too, not only the file.
 */
export function storagePathProblems(
  config: Pick<Config, 'databaseUrl' | 'databasePath' | 'keyFile' | 'encryptionKey'>,
  user = currentUser(),
): string[] {
  const database =
    config.databaseUrl || config.databasePath === ':memory:'
      ? []
      : fileProblems(config.databasePath, { name: 'DATABASE_PATH', variable: 'DATABASE_PATH', writes: true, example: 'dispatch.db', user });
  if (!config.keyFile || config.encryptionKey) return database;
  const named = config.databaseUrl !== undefined || config.keyFile !== defaultKeyFile(config.databasePath);
  // The default key file lives in the database's folder: a problem with that folder is already said once.
  if (!named && database.length > 0) return database;
  const name = named ? 'DISPATCH_KEY_FILE' : 'The key file (made beside DATABASE_PATH; DISPATCH_KEY_FILE puts it elsewhere)';
  return [
    ...database,
    ...fileProblems(config.keyFile, { name, variable: 'DISPATCH_KEY_FILE', writes: false, example: 'dispatch.key', user }),
  ];
}

interface Expectation {
  /** How the line starts: the variable, or what the file is. */
  name: string;
  /** The variable that moves the file. */
  variable: string;
  /** The file is written (the database), or only read once made (the key file). */
  writes: boolean;
  /** A file name for the "name a file in it" advice. */
  example: string;
  user: string;
}

function fileProblems(path: string, want: Expectation): string[] {
  const { name, user } = want;
  const found = statOf(path);
  if (found === 'blocked')
    return [
      `${name} ${path} cannot be reached: a folder on its way cannot be searched by ${user}; fix its permissions or choose another path`,
    ];
  if (found === 'under a file') return [underAFile(path, want)];
  if (found) {
    if (found.isDirectory()) return [`${name} ${path} is a folder: name a file in it, e.g. ${want.variable}=${join(path, want.example)}`];
    if (!can(path, want.writes ? constants.R_OK | constants.W_OK : constants.R_OK))
      return [
        `${name} ${path} is ${want.writes ? 'read-only' : 'unreadable'} for ${user}: \`chown\` it to ${user} (or run Dispatch as its owner), or choose another path`,
      ];
    if (want.writes && !can(dirname(path), constants.W_OK | constants.X_OK)) return [folderNotWritable(path, dirname(path), want)];
    return [];
  }
  const folder = nearestExisting(dirname(path));
  if (typeof folder.stats === 'object' && !folder.stats.isDirectory()) return [underAFile(path, want)];
  if (!can(folder.path, constants.W_OK | constants.X_OK)) return [folderNotWritable(path, folder.path, want)];
  return [];
}

const underAFile = (path: string, { name }: Expectation) => {
  const file = nearestExisting(dirname(path)).path;
  return `${name} ${path} cannot be made: ${file} is a file, not a folder; choose another path`;
};

const folderNotWritable = (path: string, folder: string, { name, user }: Expectation) =>
  `${name} ${path} cannot be written: the folder ${folder} is not writable by ${user}; \`chown\` it to ${user}, or choose another path`;

/** A path's stats; undefined when nothing is there; or why it cannot be looked at. */
function statOf(path: string): Stats | undefined | 'under a file' | 'blocked' {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return 'under a file';
    if (code === 'EACCES') return 'blocked';
    throw error;
  }
}

/** The closest existing folder (or file, when a file stands where a folder should) at or above `path`. */
function nearestExisting(path: string): { path: string; stats: ReturnType<typeof statOf> } {
  let current = resolve(path);
  for (;;) {
    const stats = statOf(current);
    const missing = stats === undefined || stats === 'under a file';
    if (!missing || dirname(current) === current) return { path: current, stats };
    current = dirname(current);
  }
}

function can(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** Who Dispatch runs as, for "chown it to …": the user name, or the uid when the system has none for it. */
function currentUser(): string {
  try {
    return `the user ${userInfo().username}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
