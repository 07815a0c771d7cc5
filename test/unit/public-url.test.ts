import { describe, expect, it } from 'vitest';
import { publicUrlWarning, webhookUrlWarning } from '../../src/public-url.js';

describe('a PUBLIC_URL Sentry cannot reach', () => {
  it.each([
    ['http://localhost:3000', 'localhost'],
    ['http://dispatch.localhost', 'localhost'],
    ['http://127.0.0.1:3000', '127.0.0.1, an address inside a private network'],
    ['http://10.1.2.3', '10.1.2.3, an address inside a private network'],
    ['http://192.168.1.20:3000/dispatch', '192.168.1.20, an address inside a private network'],
    ['http://[::1]:3000', '::1, an address inside a private network'],
    ['http://[fd00::5]', 'fd00::5, an address inside a private network'],
  ])('%s is said to point at %s, to the operator and beside the URL', (url, where) => {
    expect(publicUrlWarning(url, false)).toBe(
      `PUBLIC_URL ${url} points at ${where}: Sentry's servers cannot reach it (only a self-hosted Sentry on the same network can). Set PUBLIC_URL to the https:// address Sentry reaches Dispatch at, and restart`,
    );
    expect(webhookUrlWarning(`${url}/hooks/abc`)).toContain(`**Sentry cannot reach this URL**: it points at ${where}`);
  });

  it('says when PUBLIC_URL is not set at all', () => {
    expect(publicUrlWarning('http://localhost:3000', true)).toMatch(
      /^PUBLIC_URL is not set, so webhook URLs start with http:\/\/localhost:3000: /,
    );
  });

  it.each([
    'https://dispatch.example.com',
    'https://203.0.113.7',
    'http://8.8.8.8:3000',
    'https://[2606:4700::1111]',
    'https://intranet-name',
  ])('%s passes without a word (names are not resolved)', (url) => {
    expect(publicUrlWarning(url, false)).toBeUndefined();
    expect(webhookUrlWarning(url)).toBeUndefined();
  });
});
