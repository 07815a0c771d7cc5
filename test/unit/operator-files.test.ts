import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KEY_FILE_ADVICE } from '../../src/db/key-file.js';
import { productionArgs } from '../support/child.js';

/**
 * The files an operator copies or follows, kept true to the program: the systemd unit against
 * `npm start` and the README's "Run as a service" steps, `.env.example` against the configuration
 * table, and the key file's one wording.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const unitText = readFileSync(join(ROOT, 'deploy/dispatch.service'), 'utf8');

/** `Key=value` lines of a unit's section. */
function section(name: string): Map<string, string> {
  const body = unitText.split(/^\[/m).find((part) => part.startsWith(`${name}]`)) ?? '';
  return new Map(
    body
      .split('\n')
      .slice(1)
      .filter((line) => /^[A-Za-z]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
  );
}

/** The README's "Run as a service" section: the steps the unit is installed with. */
const runAsService = readme.slice(readme.indexOf('### Run as a service'), readme.indexOf('### Behind a reverse proxy'));

describe('deploy/dispatch.service', () => {
  const service = section('Service');

  it("runs npm start's own command, with node, on files that exist in the repository", () => {
    const [node, ...args] = service.get('ExecStart')!.split(' ');
    expect(node).toBe('/usr/bin/node');
    expect(args).toEqual(productionArgs());
    // What it names relative to the working directory: the build check it loads, and the entry point the build makes.
    expect(existsSync(join(ROOT, args[1]!))).toBe(true);
    expect(args.at(-1)).toBe('dist/src/index.js');
    expect(existsSync(join(ROOT, 'src/index.ts'))).toBe(true);
  });

  it('runs in the folder the README clones into, as the user it creates, and is copied from where the README says', () => {
    const folder = service.get('WorkingDirectory')!;
    expect(folder).toBe('/opt/dispatch');
    expect(runAsService).toContain(`sudo git clone <this repository> ${folder}\n`);
    expect(runAsService).toContain(`cd ${folder}\n`);
    expect(runAsService).toContain(`--home-dir ${folder} `);
    expect(service.get('ReadWritePaths')).toBe(folder);
    expect(runAsService).toContain(`sudo useradd --system --home-dir ${folder} --shell /usr/sbin/nologin ${service.get('User')}\n`);
    expect(runAsService).toContain(`sudo chown -R ${service.get('User')}:${service.get('Group')} ${folder}\n`);
    expect(runAsService).toContain('sudo cp deploy/dispatch.service /etc/systemd/system/dispatch.service\n');
    expect(runAsService).toContain('`.env` is read from the working directory');
    expect(section('Install').get('WantedBy')).toBe('multi-user.target');
  });
});

describe('.env.example', () => {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const tableKeys = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
  // Every key, set or left as a commented example (`# DATABASE_URL=…`).
  const exampleKeys = [...text.matchAll(/^(?:# )?([A-Z][A-Z_]+)=/gm)].map((m) => m[1]!);

  it('names every variable of the configuration table, and no other', () => {
    expect([...new Set(exampleKeys)].sort()).toEqual([...new Set(tableKeys)].sort());
    expect(Object.keys(parseEnv(text)).every((key) => tableKeys.includes(key))).toBe(true);
  });

  it("says that the environment wins, LOG_PRETTY's default, and the key file alternative with DATABASE_URL", () => {
    expect(text).toContain('a variable set in the environment wins over the same one here');
    expect(text).toMatch(
      /true: human-readable lines; false: JSON lines\. Default: true when stdout is a terminal, else false\.\nLOG_PRETTY=/,
    );
    expect(text).toContain('With DATABASE_URL one of the two is\n# required: this key, or a DISPATCH_KEY_FILE every replica shares');
  });
});

describe('the key file', () => {
  it('is spoken of in one wording: the start-up log, source info, npm run backup, .env.example and the README use the same words', () => {
    expect(KEY_FILE_ADVICE).toBe('back it up, and store that copy apart from the database backups');
    expect(readme.split(KEY_FILE_ADVICE).length - 1).toBeGreaterThanOrEqual(2);
    expect(readFileSync(join(ROOT, '.env.example'), 'utf8')).toContain(`The key file: ${KEY_FILE_ADVICE}.`);
    for (const wording of ['keep it with the database', 'out of backups of the database']) expect(readme).not.toContain(wording);
  });
});
