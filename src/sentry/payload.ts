/** Why a webhook body is not a payload, in words Sentry shows in its request log. */
export class PayloadError extends Error {}

/** Sentry's payloads nest about a dozen levels; far deeper is an attack on whatever walks the tree. */
const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body's text, decoded once. A byte-order mark is kept: this is the exact text the signature
 * covered, and what is stored.
 */
export function decodeBody(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new PayloadError('body is not valid UTF-8');
  }
}

/** The payload in a body's text; a leading byte-order mark is not part of the JSON. */
export function parsePayload(text: string): Record<string, unknown> {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (nestingDepth(json) > MAX_JSON_DEPTH) throw new PayloadError('JSON nested too deeply');
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch {
    throw new PayloadError('body is not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new PayloadError('body must be a JSON object');
  return payload as Record<string, unknown>;
}

/** Deepest bracket nesting outside strings; one pass over the text, stopping at the first excess. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > MAX_JSON_DEPTH) return deepest;
    } else if (c === 125 || c === 93) depth--;
  }
  return deepest;
}
