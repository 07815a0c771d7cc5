import { z } from 'zod';
import { parseKey } from './secret-key.js';

/** The shapes of configuration values (durations, sizes, keys, URLs), parsed for src/config.ts's schema. */

export const MIB = 1024 * 1024;

/** "1s,5s,30s,2m" → milliseconds. The unit is required so a bare "30" is never misread. */
export function parseDurationList(value: string, ctx: z.RefinementCtx): number[] {
  const out: number[] = [];
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const ms = parseDuration(part);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not a duration like 500ms, 5s, 2m, 1h` });
      return z.NEVER;
    }
    out.push(ms);
  }
  if (out.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'needs at least one duration' });
    return z.NEVER;
  }
  return out;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}

export const duration = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration like 500ms, 5s, 2m, 1h` });
    return z.NEVER;
  }
  return ms;
});

export const encryptionKey = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value.trim() === '') return undefined;
    const key = parseKey(value);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes written as 64 hex characters or base64 (e.g. `openssl rand -base64 32`)' });
      return z.NEVER;
    }
    return key;
  });

export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * A URL whose parts can be read: the WHATWG parser takes it, and its user name and password decode.
 * Checked here, never shown: the value holds the password, and Node's own URL error would print it.
 */
export function readableUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { username, password } = new URL(value);
  try {
    decodeURIComponent(username);
    decodeURIComponent(password);
    return true;
  } catch {
    return false;
  }
}
