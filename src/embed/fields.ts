import type { APIEmbedField } from 'discord.js';

/** A field, or nothing when the value is missing; formatters list fields and let blanks drop out. */
export function field(name: string, value: string | number | undefined | null, inline = true): APIEmbedField | undefined {
  if (value === undefined || value === null || String(value).trim() === '') return undefined;
  return { name, value: String(value), inline };
}
