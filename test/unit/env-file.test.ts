import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../../src/env-file.js';
import { tempDir } from '../support/harness.js';

const dir = tempDir('dispatch-env-');
afterAll(() => dir.remove());

describe('the environment and .env', () => {
  it('a variable set in the environment wins over the same one in .env; the others come from the file', () => {
    writeFileSync(join(dir.path, '.env'), 'DISCORD_TOKEN=from-file\nPORT=3000\n# a comment\nLOG_LEVEL=debug\n');
    const env = readEnvironment({ PORT: '4000', PATH: '/usr/bin' }, dir.path);
    expect(env).toMatchObject({ DISCORD_TOKEN: 'from-file', PORT: '4000', LOG_LEVEL: 'debug', PATH: '/usr/bin' });
  });

  it('without a .env file, the environment as it is', () => {
    const empty = tempDir('dispatch-env-none-');
    try {
      expect(readEnvironment({ PORT: '5000' }, empty.path)).toEqual({ PORT: '5000' });
    } finally {
      empty.remove();
    }
  });
});
