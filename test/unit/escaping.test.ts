import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeText, link, oneLine } from '../../src/embed/markdown.js';
import { webUrl } from '../../src/embed/urls.js';
import { renderTemplate } from '../../src/templates/render-template.js';
import { compileTemplate } from '../../src/templates/template-spec.js';

/** Characters that are markup only when no backslash escapes them. */
const MARKUP = new Set([...'[]()<>*_~`|#\\']);

/** Whether the character at `i` is escaped: preceded by an odd run of backslashes. */
function escapedAt(text: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) n++;
  return n % 2 === 1;
}

/** What Discord shows for escaped text: a backslash before ASCII punctuation hides itself; our zero-width space is invisible. */
function shown(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])/g, '$1').replace(/@\u200b/g, '@');
}

/** An unescaped masked link: `[label](http…)` whose brackets and parentheses no backslash escapes. */
function hasMaskedLink(text: string): boolean {
  for (let open = text.indexOf('['); open !== -1; open = text.indexOf('[', open + 1)) {
    if (escapedAt(text, open)) continue;
    const close = text.indexOf('](', open);
    if (close !== -1 && !escapedAt(text, close) && !escapedAt(text, close + 1)) return true;
  }
  return false;
}

const SPECIALS = [...'[]()<>*_~`|#-+>!:.@&0123456789 \n\t\\'];
const LOOKALIKES = [...'［］（）＜＞﹤﹥‹›⟨⟩〈〉＊＿～｜＃ˋ\u200b\u2028'];
const markdownish = fc.string({
  unit: fc.oneof(fc.constantFrom(...SPECIALS, ...LOOKALIKES), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
  maxLength: 200,
});
const anyText = fc.oneof(markdownish, fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }));

describe('escapeText: payload text is data, never markup', () => {
  const SEED = Number(process.env.FC_SEED ?? 20261127);

  it('shows exactly the text it was given, for any string', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(shown(escapeText(text))).toBe(text);
      }),
      { numRuns: 3000, seed: SEED },
    );
  });

  it('leaves no markup character unescaped and no masked link, for any string', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const out = escapeText(text);
        for (let i = 0; i < out.length; i++)
          if (MARKUP.has(out[i]!) && out[i] !== '\\') expect(escapedAt(out, i), `${JSON.stringify(out)} at ${i}`).toBe(true);
        expect(hasMaskedLink(out)).toBe(false);
        // No line opens a heading, subtext, quote or list.
        for (const line of out.split('\n')) expect(line).not.toMatch(/^[ \t]*([-+>#]|\d+\.)/);
        expect(out).not.toMatch(/@(everyone|here)/i);
      }),
      { numRuns: 3000, seed: SEED },
    );
  });

  it.each([
    ['[Re-login here](https://evil.example)', '\\[Re-login here\\]\\(https://evil.example\\)'],
    ['# Urgent', '\\# Urgent'],
    ['-# small print', '\\-\\# small print'],
    ['> quoted\n>>> all of it', '\\> quoted\n\\>\\>\\> all of it'],
    ['- item\n+ item\n1. item', '\\- item\n\\+ item\n1\\. item'],
    [
      '<@&123456789012345678> <@123> <#456> <t:1700000000:R> </deploy:1>',
      '\\<@&123456789012345678\\> \\<@123\\> \\<\\#456\\> \\<t:1700000000:R\\> \\</deploy:1\\>',
    ],
    ['@everyone and @here', '@\u200beveryone and @\u200bhere'],
    ['||spoiler|| **bold** __under__ ~~gone~~', '\\|\\|spoiler\\|\\| \\*\\*bold\\*\\* \\_\\_under\\_\\_ \\~\\~gone\\~\\~'],
    ['`code` ```block```', '\\`code\\` \\`\\`\\`block\\`\\`\\`'],
    ['a\\[b](c)', 'a\\\\\\[b\\]\\(c\\)'],
    ['［full width］（https://x）', '［full width］（https://x）'],
    ['TypeError: x is undefined', 'TypeError: x is undefined'],
  ])('shows %j as %j', (input, output) => {
    expect(escapeText(input)).toBe(output);
    expect(shown(output)).toBe(input);
  });

  it('keeps a masked link Dispatch builds itself working, with an escaped label and a normalized target', () => {
    expect(link('PROJ-1: [x](https://evil.example)', 'https://sentry.io/issues/1/?a=(b)')).toBe(
      '[PROJ-1: \\[x\\]\\(https://evil.example\\)](https://sentry.io/issues/1/?a=%28b%29)',
    );
    expect(link('x', 'javascript:alert(1)')).toBeUndefined();
    expect(oneLine('two\nlines [x](y)')).toBe('two lines \\[x\\]\\(y\\)');
  });
});

describe('URLs from payloads', () => {
  it('are parsed, kept only for http and https, and sent serialized (percent-encoded)', () => {
    expect(webUrl('https://sentry.io/issues/1/é')).toBe('https://sentry.io/issues/1/%C3%A9');
    expect(webUrl('https://exämple.com/a b')).toBe('https://xn--exmple-cua.com/a%20b');
    expect(webUrl(' https://sentry.io/x ')).toBe('https://sentry.io/x');
    for (const bad of [
      'javascript:alert(1)',
      'data:text/html,x',
      'ftp://x/y',
      '//x.com',
      'not a url',
      `https://x.com/${'a'.repeat(2100)}`,
    ]) {
      expect(webUrl(bad)).toBeUndefined();
    }
  });
});

describe('templates: pings only from the template’s own text', () => {
  const payload = {
    data: {
      id: '222222222222222222',
      issue: { title: 'boom <@&222222222222222222> @everyone [click](https://evil.example)', level: 'fatal' },
    },
  };
  const event = { type: 'issue.created', resource: 'issue', action: 'created', receivedAt: 0, payload };
  const render = (template: object) => renderTemplate(compileTemplate(JSON.stringify(template)), event);

  it('a role in the payload never pings, and shows as text; a role written in the template does', () => {
    const out = render({
      content: '<@&111111111111111111> {{ payload.data.issue.title }}',
      allow_role_mentions: true,
      embed: { description: '{{ payload.data.issue.title }}', title: 'x' },
    });
    expect(out.allowedRoleIds).toEqual(['111111111111111111']);
    expect(out.content).toBe(
      '<@&111111111111111111> boom \\<@&222222222222222222\\> @\u200beveryone \\[click\\]\\(https://evil.example\\)',
    );
    expect(out.embed.description).toBe('boom \\<@&222222222222222222\\> @\u200beveryone \\[click\\]\\(https://evil.example\\)');
  });

  it('a role id assembled from printed values never pings, even with | raw', () => {
    const out = render({
      content: '<@&{{ payload.data.id | raw }}> {{ payload.data.issue.title | raw }}',
      allow_role_mentions: true,
      embed: { title: 'x' },
    });
    expect(out.content).toContain('<@&222222222222222222>');
    expect(out.allowedRoleIds).toEqual([]);
  });

  it('the helpers that make markup on purpose are not escaped; escape_markdown is not escaped twice', () => {
    const out = render({
      embed: {
        title: 'x',
        description:
          '{{ payload.data.issue.level | code }} {{ 1700000000 | discord_time }} {{ payload.data.issue.title | escape_markdown }}',
      },
    });
    expect(out.embed.description).toBe(
      '`fatal` <t:1700000000:R> boom \\<@&222222222222222222\\> @\u200beveryone \\[click\\]\\(https://evil.example\\)',
    );
  });
});
