import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sign } from '../../src/sentry/verify.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/sentry', import.meta.url));

export function loadFixture(relativePath: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, relativePath), 'utf8')) as Record<string, unknown>;
}

/** Every fixture file with an envelope (not unit-test-data/, which holds `data` objects only). */
export function envelopeFixtures(): string[] {
  const top = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json'));
  const nested = ['example-app-mocks', 'legacy-docs'].flatMap((dir) =>
    readdirSync(join(FIXTURES_DIR, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `${dir}/${f}`),
  );
  return [...top, ...nested];
}

/** `issue.created.json`, `example-app-mocks/metric_alert.critical.with_alert_rule_action.json` → resource and action. */
export function eventTypeOfFixture(relativePath: string): { resource: string; action: string; type: string } {
  const [resource, action] = relativePath
    .split('/')
    .pop()!
    .replace(/\.json$/, '')
    .split('.') as [string, string];
  return { resource, action, type: `${resource}.${action}` };
}

const SENTRY_KEY_ORDER = ['action', 'installation', 'data', 'actor'];

/**
 * Serializes a payload the way Sentry does: compact separators, keys `action, installation, data,
 * actor` first, and every non-ASCII character escaped as \uXXXX (surrogate pairs as two escapes).
 */
export function serializeLikeSentry(payload: Record<string, unknown>): string {
  const ordered: Record<string, unknown> = {};
  for (const key of SENTRY_KEY_ORDER) if (key in payload) ordered[key] = payload[key];
  for (const [key, value] of Object.entries(payload)) if (!(key in ordered)) ordered[key] = value;
  return asciiJson(ordered);
}

/** `sentry.utils.json.dumps`: compact separators, every non-ASCII character escaped as \uXXXX. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export function sentryRequest(
  resource: string,
  payload: Record<string, unknown>,
  secret?: string,
  timestamp = Math.floor(Date.now() / 1000),
): SignedRequest {
  const body = serializeLikeSentry(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'request-id': crypto.randomUUID().replace(/-/g, ''),
    'sentry-hook-resource': resource,
    'sentry-hook-timestamp': String(timestamp),
  };
  if (secret !== undefined) headers['sentry-hook-signature'] = sign(body, secret);
  return { body, headers };
}
