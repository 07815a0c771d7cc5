import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig, secretValues } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

function capture(secrets: readonly string[]) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false, destination, secretValues: secrets }), lines };
}

describe('the logger hides credentials', () => {
  it("hides DATABASE_URL's password however short, in the URL and on its own (the README's own example is `secret`)", () => {
    const config = loadConfig({
      DISCORD_TOKEN: 'bot-token-123',
      DATABASE_URL: 'postgres://dispatch:secret@db.internal:5432/dispatch',
      DISPATCH_ENCRYPTION_KEY: 'a'.repeat(64),
    });
    const { logger, lines } = capture(secretValues(config));
    logger.error({ err: new Error('connect to postgres://dispatch:secret@db.internal:5432/dispatch failed') }, 'could not connect');
    logger.info({ detail: 'password secret rejected' }, 'auth');
    const out = lines.join('');
    expect(out).not.toContain('secret');
    expect(out).toContain('postgres://dispatch:[redacted]@db.internal');
  });

  it("hides a source's slug in the paths of webhooks and of Sentry's UI-component requests", () => {
    const { logger, lines } = capture([]);
    logger.error({ path: '/sentry-ui/Ab-_0123456789abcdefghijklmnopqr/settings' }, 'failed at /hooks/Ab-_0123456789abcdefghijklmnopqr');
    expect(lines.join('')).not.toContain('Ab-_0123456789');
    expect(lines.join('')).toContain('/sentry-ui/[slug]/settings');
  });

  it('hides the password of any URL with credentials in a log line', () => {
    const { logger, lines } = capture([]);
    logger.warn('retrying https://user:pa55@example.com/x');
    expect(lines.join('')).not.toContain('pa55');
  });
});
