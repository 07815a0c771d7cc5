import { escapeMarkdown } from 'discord.js';
import { truncate } from './text.js';

/** How payload text is shown in Discord markdown: as prose, on one line, as code, or as a link. */

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

/** A masked link Dispatch builds itself: escaped label, http(s) target. */
export function link(label: string, url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\//.test(url)) return undefined;
  return `[${escapeMarkdown(label).replace(/[[\]]/g, '')}](${url.replace(/[()\s]/g, encodeURIComponent)})`;
}
