import type { APIEmbedField } from 'discord.js';
import { oneLine } from './markdown.js';

/**
 * A field, or nothing when the value is missing; formatters list fields and let blanks drop out.
 * `value` is markdown as it will be shown: payload text in it must be escaped already (`textField`).
 */
export function field(name: string, value: string | number | undefined | null, inline = true): APIEmbedField | undefined {
  if (value === undefined || value === null || String(value).trim() === '') return undefined;
  return { name, value: String(value), inline };
}

/** A field whose value is payload text (a level, a status, an id): shown as text, on one line. */
export function textField(name: string, value: string | number | undefined | null, inline = true): APIEmbedField | undefined {
  return field(name, value === undefined || value === null ? undefined : oneLine(String(value)), inline);
}
