import { EMBED_LIMITS } from './limits.js';

/**
 * A URL from a payload as Discord accepts it in an embed: parsed as a WHATWG URL, http or https
 * only, and sent in its serialized form (non-ASCII characters and spaces percent-encoded, which
 * Discord's `uri` check requires). Anything else is undefined: the field is left without a link.
 */
export function webUrl(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  const serialized = parsed.href;
  return serialized.length <= EMBED_LIMITS.url ? serialized : undefined;
}
