/** Why a webhook body is not a payload, in words Sentry shows in its request log. */
export class PayloadError extends Error {}

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

/**
 * The payload in a body's text; a leading byte-order mark is not part of the JSON. Any JSON object
 * is a payload, however deep or odd: a signed event is never refused for its shape (Sentry would
 * not send it again). What walks a payload reads known paths only, so depth costs nothing there.
 */
export function parsePayload(text: string): Record<string, unknown> {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch {
    throw new PayloadError('body is not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new PayloadError('body must be a JSON object');
  return payload as Record<string, unknown>;
}
