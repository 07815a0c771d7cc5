import { isIP } from 'node:net';
import { isPrivateAddress } from './sentry-api/url-guard.js';

/**
 * Webhook URLs under `localhost` (PUBLIC_URL's default) or a loopback, private or link-local
 * address are never called by sentry.io, and nothing says so: Dispatch says it, at start (to
 * whoever runs it) and beside every webhook URL it hands out (to the member pasting it into
 * Sentry). A self-hosted Sentry on the same network can reach a private address, so the words
 * say that too. Names are not resolved: this runs on every reply.
 */
function unreachableHost(publicUrl: string): string | undefined {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return 'localhost';
  if (isIP(host) && isPrivateAddress(host)) return `${host}, an address inside a private network`;
  return undefined;
}

/** For the operator, at start: what is wrong with PUBLIC_URL and what to set. */
export function publicUrlWarning(publicUrl: string, isDefault: boolean): string | undefined {
  const host = unreachableHost(publicUrl);
  if (!host) return undefined;
  const what = isDefault ? `PUBLIC_URL is not set, so webhook URLs start with ${publicUrl}` : `PUBLIC_URL ${publicUrl} points at ${host}`;
  return `${what}: Sentry's servers cannot reach it (only a self-hosted Sentry on the same network can). Set PUBLIC_URL to the https:// address Sentry reaches Dispatch at, and restart`;
}

/** For the member given a webhook URL: why Sentry will not call it, and who can fix it. */
export function webhookUrlWarning(publicUrl: string): string | undefined {
  const host = unreachableHost(publicUrl);
  if (!host) return undefined;
  return `⚠️ **Sentry cannot reach this URL**: it points at ${host} (the bot's PUBLIC_URL setting). Whoever runs Dispatch must set PUBLIC_URL to the address Sentry reaches it at and restart it; \`/dispatch source info\` then shows the URL to paste (only its start changes).`;
}
