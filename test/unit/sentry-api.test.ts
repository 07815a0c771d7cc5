import { describe, expect, it } from 'vitest';
import { checkBaseUrl, isPrivateAddress } from '../../src/sentry-api/url-guard.js';
import { cardButtons, sharedButtons, triageId } from '../../src/triage/components.js';
import { statusActionsFor } from '../../src/triage/actions.js';
import type { CardState } from '../../src/cards/state.js';
import { asRouteId } from '../../src/ids.js';

const strict = { allowInsecure: false, allowPrivate: false, timeoutMs: 1000 };

describe('which Sentry URLs may be called', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    'fd00:ec2::254',
    'fc00::1',
    'fe80::1',
    'ff02::1',
    '64:ff9b::a00:1',
    // Site-local (deprecated, still routed inside some networks), and addresses that carry a private IPv4 address inside.
    'fec0::1',
    'feff::1',
    '::ffff:0:10.0.0.1',
    '::ffff:0:7f00:1',
    '2002:a00:1::1',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
    '64:ff9b:1::a00:1',
  ])('%s is private', (address) => expect(isPrivateAddress(address)).toBe(true));

  it.each([
    '8.8.8.8',
    '35.186.247.156',
    '172.32.0.1',
    '192.169.0.1',
    '2600:1901:0:6d85::',
    '::ffff:8.8.8.8',
    '2002:808:808::1',
    '2606:4700:4700::1111',
  ])('%s is public', (address) => expect(isPrivateAddress(address)).toBe(false));

  it('takes https only, no credentials, no query; http and private addresses only when the operator allows them', () => {
    expect(checkBaseUrl('', strict)).toEqual({ ok: true, url: 'https://sentry.io' });
    expect(checkBaseUrl(' https://sentry.example.com/ ', strict)).toEqual({ ok: true, url: 'https://sentry.example.com' });
    expect(checkBaseUrl('https://example.com/sentry/', strict)).toEqual({ ok: true, url: 'https://example.com/sentry' });
    for (const bad of [
      'http://sentry.example.com',
      'ftp://x',
      'https://u:p@x.example',
      'https://x.example/?a=1',
      'not a url',
      'https://10.0.0.5',
    ]) {
      expect(checkBaseUrl(bad, strict).ok, bad).toBe(false);
    }
    expect(checkBaseUrl('http://sentry.lan', { ...strict, allowInsecure: true }).ok).toBe(true);
    expect(checkBaseUrl('https://10.0.0.5', { ...strict, allowPrivate: true }).ok).toBe(true);
  });
});

describe('triage components', () => {
  const state = (status: string): CardState => ({
    key: 'issue:98765432109876543210',
    kind: 'issue',
    status,
    shortId: 'X-1',
    title: 'TypeError',
    url: 'https://example-org.sentry.io/issues/1/',
    lastUpdate: { text: '', at: 0 },
    history: [],
  });

  it('offers the actions that fit the status', () => {
    expect(statusActionsFor('unresolved')).toEqual(['resolve', 'resolve-next', 'archive']);
    expect(statusActionsFor('resolved')).toEqual(['unresolve']);
    expect(statusActionsFor('ignored')).toEqual(['ongoing', 'resolve']);
  });

  it('keeps every custom id within 100 characters with the largest ids, and shows no action without a token', () => {
    expect(triageId(asRouteId(Number.MAX_SAFE_INTEGER), '9'.repeat(20), 'resolve-next').length).toBeLessThanOrEqual(100);
    const connected = cardButtons(state('unresolved'), { routeId: asRouteId(1), connected: true });
    expect(connected[0]!.components).toHaveLength(5);
    const plain = cardButtons(state('unresolved'), { routeId: asRouteId(1), connected: false });
    expect(plain[0]!.components.map((c) => ('label' in c ? c.label : ''))).toEqual(['Open in Sentry']);
    const shared = sharedButtons(
      Array.from({ length: 10 }, () => ({ routeId: asRouteId(1), state: state('unresolved') })),
      true,
    );
    expect(shared).toHaveLength(1);
  });
});
