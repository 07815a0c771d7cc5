/**
 * Payload text written to break out of being text: what anyone using a customer's app can put in
 * an exception message, an issue title, a comment or a name. And the check that none of it
 * renders as markup, links or mentions in what reaches Discord.
 */

/** Every trick at once: masked links (plain, angle-bracketed, behind zero-width spaces), mass and role/user/channel mentions, emphasis, code, headings, subtext, quotes and lists. */
export const HOSTILE_TEXT = [
  '[Sign in again](https://evil.example/login)',
  '\u200b[Sign\u200b in](<https://evil.example/zw>)\u200b',
  '@everyone @here <@&222222222222222222> <@333333333333333333> <#444444444444444444>',
  '**bold** __under__ ||spoiler|| ~~gone~~ `code`',
].join(' ');

/** Lines that would open a heading, subtext, a quote or a list. */
export const HOSTILE_LINES = '# Heading\n-# small print\n> quoted\n- item\n1. first';

/** A name (of a Sentry member, an environment) that would link and ping. */
export const HOSTILE_NAME = '[Mallory](https://evil.example/name) @everyone';

/** A payload with every string in it (a title, a level, an id, a name, a URL) replaced by the hostile text and lines. */
export function everyStringHostile(value: unknown): unknown {
  if (typeof value === 'string') return `${HOSTILE_TEXT}\n${HOSTILE_LINES}`;
  if (Array.isArray(value)) return value.map(everyStringHostile);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, everyStringHostile(v)]));
  return value;
}

/** Whether the character at `i` is escaped: preceded by an odd run of backslashes. */
function escapedAt(text: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) n++;
  return n % 2 === 1;
}

/** Every index at which `pattern` matches `text` with its first character unescaped. */
function unescaped(text: string, pattern: RegExp): number[] {
  return [...text.matchAll(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))]
    .map((m) => m.index)
    .filter((i) => !escapedAt(text, i));
}

const LIVE_MARKUP: [string, RegExp][] = [
  ['a masked link to evil.example', /\]\(<?https:\/\/evil\.example/],
  ['a role, user or channel mention from the payload', /<(@&?|#)(222222222222222222|333333333333333333|444444444444444444)>/],
  ['emphasis, spoiler or code from the payload', /(\*\*bold|__under|\|\|spoiler|~~gone|`code`)/],
];

/**
 * The text with Dispatch's code blocks and spans (opened by an unescaped backtick) blanked out:
 * nothing inside them is markup, and their payload text has its backticks replaced already.
 */
function outsideCode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '`' && !escapedAt(text, i)) {
      const fence = text.startsWith('```', i) ? '```' : '`';
      const end = text.indexOf(fence, i + fence.length);
      if (end !== -1) {
        out += ' '.repeat(end + fence.length - i);
        i = end + fence.length - 1;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

/** A line (inside Dispatch's own `> ` quote, if any) that opens a heading, subtext, quote or list from the payload. */
const LINE_MARKUP = /^(?:> )?[ \t]*(#+ Heading|-# small print|>+ ?quoted|[-+] item|\d+\. first)/m;

/**
 * What in `text`, a part of a message Discord draws as markdown (content, an embed's title,
 * description, field names and values), would show payload text as something else than text:
 * one line per problem. Escaping twice (a backslash shown before the payload's own text) is one.
 */
export function markupLeaks(markdown: string): string[] {
  const text = outsideCode(markdown);
  const leaks: string[] = [];
  for (const [what, pattern] of LIVE_MARKUP) for (const i of unescaped(text, pattern)) leaks.push(`${what}: ${text.slice(i, i + 40)}`);
  if (/@(everyone|here)/i.test(text)) leaks.push(`a live @everyone or @here: ${/.{0,20}@(everyone|here)/i.exec(text)![0]}`);
  const line = LINE_MARKUP.exec(text);
  if (line && !escapedAt(text, line.index + line[0].search(/[-+#>\d]/))) leaks.push(`a line of markup: ${line[0]}`);
  if (/\\\\\\[[\]()<>*_~|`#@.+-]/.test(text)) leaks.push(`escaped twice: ${/.{0,20}\\\\\\./.exec(text)![0]}`);
  return leaks;
}

/** The parts of a message (as sent to Discord's API) that Discord draws as markdown. */
export function markdownParts(message: { content?: string | null; embeds?: unknown[] } | undefined): string[] {
  if (!message) return [];
  const embeds = (message.embeds ?? []) as { title?: string; description?: string; fields?: { name: string; value: string }[] }[];
  return [
    message.content ?? '',
    ...embeds.flatMap((e) => [e.title ?? '', e.description ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value])]),
  ].filter(Boolean);
}

/** The plain-text parts (button and option labels, placeholders): drawn as written, so a backslash there would show. */
export function plainParts(message: { components?: unknown[] } | undefined): string[] {
  const out: string[] = [];
  const visit = (component: any) => {
    for (const text of [component?.label, component?.placeholder, component?.description]) if (typeof text === 'string') out.push(text);
    for (const option of component?.options ?? []) out.push(option.label, option.description ?? '');
    for (const child of component?.components ?? []) visit(child);
  };
  for (const row of message?.components ?? []) visit(row);
  return out.filter(Boolean);
}
