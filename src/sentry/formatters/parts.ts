import { escapeMarkdown, type APIEmbedField } from 'discord.js';
import { z } from 'zod';
import { truncate } from '../embed-limits.js';

/** Building blocks shared by the formatters: loose schemas, colors, safe text. */

// Loose schema pieces: a missing or wrong-typed value becomes undefined instead of failing the parse.
export const optString = z.string().optional().catch(undefined);
/** Sentry sends some numbers as strings (`count`), some ids as either. */
export const optNumberish = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^-?\d+(\.\d+)?$/)
      .transform(Number),
  ])
  .optional()
  .catch(undefined);
export const optIdish = z
  .union([z.string(), z.number().transform(String)])
  .optional()
  .catch(undefined);
export const optBool = z.boolean().optional().catch(undefined);
export function loose<T extends z.ZodRawShape>(shape: T) {
  return z.looseObject(shape).optional().catch(undefined);
}
export function looseArray<T extends z.ZodType>(item: T) {
  // Items that do not fit are dropped one by one; the rest of the list survives.
  return z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((items): z.output<T>[] | undefined =>
      items?.flatMap((value) => {
        const parsed = item.safeParse(value);
        return parsed.success && parsed.data !== undefined ? [parsed.data as z.output<T>] : [];
      }),
    )
    .optional();
}

/** Parses with a loose schema; never throws (a non-object payload gives an empty object). */
export function parseLoose<T extends z.ZodType>(schema: T, payload: unknown): NonNullable<z.output<T>> | Record<string, never> {
  const parsed = schema.safeParse(payload);
  return parsed.success && parsed.data ? (parsed.data as NonNullable<z.output<T>>) : {};
}

export const COLORS = {
  red: 0xe03e2f,
  orange: 0xf5a623,
  blue: 0x3b82f6,
  gray: 0x95a5a6,
  green: 0x2ecc71,
  purple: 0x8b5cf6,
} as const;

export function levelColor(level: string | undefined): number {
  switch (level?.toLowerCase()) {
    case 'fatal':
    case 'error':
      return COLORS.red;
    case 'warning':
      return COLORS.orange;
    case 'info':
      return COLORS.blue;
    case 'debug':
      return COLORS.gray;
    default:
      return COLORS.red;
  }
}

/** A backtick inside payload text would close the code span early; U+02CB looks alike and does not. */
function neutralizeBackticks(text: string): string {
  return text.replace(/`/g, 'ˋ');
}

/** Code-ish text (culprits, paths, exception types) as inline code on one line. */
export function inlineCode(text: string | undefined): string | undefined {
  if (!text?.trim()) return undefined;
  return `\`${neutralizeBackticks(text.replace(/\s+/g, ' ').trim())}\``;
}

/** Multi-line code (diffs, stack excerpts) as a code block, cut to `max` characters in all. */
export function codeBlock(text: string | undefined, language = '', max = 1024): string | undefined {
  if (!text?.trim()) return undefined;
  const open = `\`\`\`${language}\n`;
  const close = '\n```';
  const room = max - open.length - close.length - 1;
  const body = neutralizeBackticks(text.replace(/\s+$/, ''));
  return open + truncate(body, room) + close;
}

/** Payload text shown as prose: markdown is escaped so it cannot restyle or break the embed. */
export function prose(text: string | undefined): string | undefined {
  if (!text?.trim()) return undefined;
  return escapeMarkdown(text.trim());
}

/** Payload text on one line (titles, names): whitespace folded, markdown escaped. */
export function oneLine(text: string | undefined): string | undefined {
  return prose(text?.replace(/\s+/g, ' '));
}

/** `<t:unix:R>` renders in each reader's time zone; accepts `…Z` and `…+00:00`. */
export function discordTimestamp(iso: string | undefined, style: 'R' | 'f' | 'F' = 'R'): string | undefined {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(ms) ? undefined : `<t:${Math.floor(ms / 1000)}:${style}>`;
}

/** An ISO timestamp for the embed, or undefined when the payload has none that parses. */
export function isoTime(...candidates: (string | number | undefined)[]): string | undefined {
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    const date = new Date(typeof candidate === 'number' ? candidate * (candidate < 1e12 ? 1000 : 1) : Date.parse(candidate));
    // Outside JavaScript's date range (±8.64e15 ms) a Date is invalid, and toISOString would throw.
    if (!Number.isNaN(date.getTime())) return date.toISOString();
  }
  return undefined;
}

/** A field, or nothing when the value is missing; formatters list fields and let blanks drop out. */
export function field(name: string, value: string | number | undefined | null, inline = true): APIEmbedField | undefined {
  if (value === undefined || value === null || String(value).trim() === '') return undefined;
  return { name, value: String(value), inline };
}

export function fields(...list: (APIEmbedField | undefined)[]): APIEmbedField[] {
  return list.filter((f): f is APIEmbedField => f !== undefined);
}

/** "event type · project" — the footer every Dispatch embed carries. */
export function footer(type: string, project: string | undefined): { text: string } {
  return { text: project ? `${type} · ${project}` : type };
}

export function link(label: string, url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\//.test(url)) return undefined;
  return `[${escapeMarkdown(label).replace(/[[\]]/g, '')}](${url.replace(/[()\s]/g, encodeURIComponent)})`;
}

/** A compact, readable excerpt of an unknown payload: leaf values by path, at most `maxLines`. */
export function excerpt(value: unknown, maxLines = 12): string | undefined {
  const lines: string[] = [];
  const walk = (node: unknown, path: string, depth: number): void => {
    if (lines.length >= maxLines) return;
    if (node === null || typeof node !== 'object') {
      if (node === undefined || node === null || node === '') return;
      const text = String(node).replace(/\s+/g, ' ');
      lines.push(`${truncate(path, 60)}: ${truncate(text, 80)}`);
      return;
    }
    if (depth >= 3) return;
    const entries = Array.isArray(node) ? node.slice(0, 3).map((v, i) => [String(i), v] as const) : Object.entries(node);
    for (const [key, child] of entries) {
      if (lines.length >= maxLines) return;
      walk(child, path ? `${path}.${key}` : key, depth + 1);
    }
  };
  walk(value, '', 0);
  return lines.length > 0 ? codeBlock(lines.join('\n'), 'yaml', 1500) : undefined;
}
