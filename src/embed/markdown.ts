import { truncate } from './text.js';
import { webUrl } from './urls.js';

/**
 * How payload text is shown in Discord markdown. Text in a payload is written by whoever triggered
 * an error in a customer's app, so it is data, never markup: `escapeText` is the one function that
 * makes it so, and everything below builds on it.
 */

/**
 * Markdown that must not start a line in payload text: headings and subtext (`#`, `-#`), block
 * quotes (`>`), lists (`-`, `+`, `*`, `1.`). Escaping the first character is enough.
 */
const LINE_START_BULLET = /^([ \t]*)([-+])/gm;
const LINE_START_NUMBER = /^([ \t]*)(\d+)\./gm;
/**
 * Characters that form markup anywhere: emphasis, underline, strike, spoilers (`* _ ~ |`), code
 * spans (`` ` ``), masked links (`[ ] ( )`), mentions, channels, timestamps, emoji and slash
 * commands (`< >`), headings (`#`), and the backslash itself so that payload text cannot undo an
 * escape. A backslash before any ASCII punctuation shows that character as it is.
 */
const ANYWHERE = /[\\*_~`|<>[\]()#]/g;
/** `@everyone` and `@here` never ping in an embed, but still show as mentions: a zero-width space breaks them. */
const MASS_MENTION = /@(everyone|here)/gi;

/** Payload text as literal text: nothing in it can format, link, mention or quote. */
export function escapeText(text: string): string {
  return text
    .replace(ANYWHERE, '\\$&')
    .replace(LINE_START_BULLET, '$1\\$2')
    .replace(LINE_START_NUMBER, '$1$2\\.')
    .replace(MASS_MENTION, '@\u200b$1');
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

/** Payload text shown as prose: escaped, so it cannot restyle, link, mention or break the embed. */
export function prose(text: string | undefined): string | undefined {
  if (!text?.trim()) return undefined;
  return escapeText(text.trim());
}

/** Payload text on one line (titles, names): whitespace folded, escaped. */
export function oneLine(text: string | undefined): string | undefined {
  return prose(text?.replace(/\s+/g, ' '));
}

/** A masked link Dispatch builds itself: an escaped label, a normalized http(s) target. */
export function link(label: string, url: string | undefined): string | undefined {
  const target = webUrl(url);
  if (!target) return undefined;
  // Parentheses are the only characters of a serialized URL that could end the link early
  // (encodeURIComponent leaves them alone, hence by hand).
  return `[${escapeText(label.replace(/\s+/g, ' '))}](${target.replace(/\(/g, '%28').replace(/\)/g, '%29')})`;
}
