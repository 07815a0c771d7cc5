import type { SecretBox } from '../db/secret-box.js';
import { verifySignature, type VerifyFailure } from '../sentry/verify.js';

export type SignatureVerdict = { ok: true; checked: boolean } | { ok: false; reason: VerifyFailure | 'signature required' };

/**
 * Whether a request to a source may be taken, by its signature: checked with the source's signing
 * secret when it has one (over `signed`, the bytes Sentry signed), refused without one under
 * REQUIRE_SIGNATURE, taken unchecked otherwise. Webhooks and Sentry's UI-component requests alike.
 */
export function checkSourceSignature(
  source: { signingSecret: string | null },
  deps: { secrets: SecretBox; requireSignature: boolean },
  signed: Buffer,
  header: string | undefined,
): SignatureVerdict {
  if (source.signingSecret === null)
    return deps.requireSignature ? { ok: false, reason: 'signature required' } : { ok: true, checked: false };
  const verdict = verifySignature(signed, deps.secrets.open(source.signingSecret), header);
  return verdict.ok ? { ok: true, checked: true } : verdict;
}
