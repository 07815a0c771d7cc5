/** 32 bytes, written as 64 hex characters or as base64 / base64url: DISPATCH_ENCRYPTION_KEY's form, and the key file's. */
export function parseKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  return key.length === 32 ? key : undefined;
}
