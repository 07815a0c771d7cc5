import { isIP } from 'node:net';

/**
 * What a Sentry base URL may point at. Any server admin can set one, and the bot then calls it with
 * a bearer token from its own network: without these rules that is a request forgery into the
 * operator's network (a metadata service, a database admin page).
 */
export interface UrlPolicy {
  /** SENTRY_ALLOW_INSECURE_URLS: plain http:// too. */
  allowInsecure: boolean;
  /** SENTRY_ALLOW_PRIVATE_URLS: loopback, private and link-local addresses too (self-hosted Sentry on a LAN). */
  allowPrivate: boolean;
  /** SENTRY_TIMEOUT: how long a call may take in all. */
  timeoutMs: number;
}

export const DEFAULT_SENTRY_URL = 'https://sentry.io';

/** Why a base URL is refused, in words for the member who typed it; or the URL, normalized. */
export function checkBaseUrl(raw: string, policy: UrlPolicy): { ok: true; url: string } | { ok: false; reason: string } {
  const text = raw.trim() || DEFAULT_SENTRY_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'The Sentry URL is not a URL. Use the address you open Sentry at, e.g. `https://sentry.example.com`.' };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowInsecure)) {
    return {
      ok: false,
      reason:
        'The Sentry URL must start with `https://` (plain `http://` is allowed only when the bot operator sets SENTRY_ALLOW_INSECURE_URLS=true).',
    };
  }
  if (url.username || url.password) return { ok: false, reason: 'The Sentry URL cannot carry a user name or password.' };
  if (url.search || url.hash) return { ok: false, reason: 'The Sentry URL is just the address, without `?` or `#` parts.' };
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !policy.allowPrivate && isPrivateAddress(literal)) return { ok: false, reason: privateReason(literal) };
  return { ok: true, url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/** The refusal for an address inside a private network. Names the address: it is the member's own input or what their host resolves to. */
export function privateReason(address: string): string {
  return `The Sentry URL leads to ${address}, an address inside a private network; Dispatch does not call those unless the bot operator sets SENTRY_ALLOW_PRIVATE_URLS=true (for a self-hosted Sentry on a LAN).`;
}

const V4_BLOCKED: [number, number][] = [
  [0x00000000, 8], // "this" network
  [0x0a000000, 8], // 10/8 private
  [0x64400000, 10], // 100.64/10 carrier-grade NAT
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // 169.254/16 link-local, cloud metadata (169.254.169.254)
  [0xac100000, 12], // 172.16/12 private
  [0xc0000000, 24], // 192.0.0/24 IETF protocol assignments
  [0xc0a80000, 16], // 192.168/16 private
  [0xc6120000, 15], // 198.18/15 benchmarking
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, broadcast
];

function v4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function v6Words(address: string): number[] {
  const [head, tail = ''] = address.toLowerCase().split('::');
  const parse = (part: string) => (part ? part.split(':') : []).flatMap((w) => (w.includes('.') ? v4Words(w) : [parseInt(w, 16)]));
  const start = parse(head!);
  const end = address.includes('::') ? parse(tail) : [];
  return [...start, ...new Array(8 - start.length - end.length).fill(0), ...end];
}

function v4Words(address: string): number[] {
  const n = v4ToNumber(address);
  return [Math.floor(n / 65536), n % 65536];
}

/** The IPv4 address in two 16-bit words, as text. */
const v4Of = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** Loopback, private, link-local, metadata, multicast and other addresses that are not the public internet. */
export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const n = v4ToNumber(address);
    return V4_BLOCKED.some(([base, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits)));
  }
  if (isIP(address) !== 6) return true; // not an address: nothing to connect to
  const w = v6Words(address);
  const zeros = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  // ::, ::1, IPv4-compatible (::a.b.c.d), IPv4-mapped (::ffff:a.b.c.d) and IPv4-translated
  // (::ffff:0:a.b.c.d): judged as the IPv4 address they carry.
  if (zeros(0, 5) && (w[5] === 0 || w[5] === 0xffff)) {
    if (zeros(0, 7) && (w[7] === 0 || w[7] === 1)) return true;
    return isPrivateAddress(v4Of(w[6]!, w[7]!));
  }
  if (zeros(0, 4) && w[4] === 0xffff && w[5] === 0) return isPrivateAddress(v4Of(w[6]!, w[7]!));
  const first = w[0]!;
  // 6to4 (2002:a.b.c.d::/48) reaches the IPv4 address it carries.
  if (first === 0x2002) return isPrivateAddress(v4Of(w[1]!, w[2]!));
  return (
    (first & 0xfe00) === 0xfc00 || // fc00::/7 unique local (fd00:ec2::254 metadata included)
    (first & 0xffc0) === 0xfe80 || // fe80::/10 link-local
    (first & 0xffc0) === 0xfec0 || // fec0::/10 site-local (deprecated, still routed inside some networks)
    (first & 0xff00) === 0xff00 || // multicast
    (first === 0x64 && w[1] === 0xff9b) || // 64:ff9b::/96 and 64:ff9b:1::/48 NAT64 (could reach any IPv4 address)
    (first === 0x2001 && w[1] === 0) || // 2001::/32 Teredo: tunnels to an IPv4 address of its own choosing
    (first === 0x2001 && w[1] === 0x0db8) // documentation
  );
}
