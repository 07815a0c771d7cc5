import { EMBED_LIMITS } from './limits.js';

/** An http(s) URL Discord accepts in an embed, or undefined. */
export function webUrl(url: string | null | undefined): string | undefined {
  if (!url || url.length > EMBED_LIMITS.url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}
