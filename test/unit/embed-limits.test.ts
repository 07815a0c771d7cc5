import { describe, expect, it } from 'vitest';
import { partsThatFit } from '../../src/delivery/policy.js';
import { LimitedEmbedBuilder } from '../../src/embed/builder.js';
import { embedLength } from '../../src/embed/limits.js';
import { truncate } from '../../src/embed/text.js';

const fitEmbed = LimitedEmbedBuilder.fit;

describe('truncate', () => {
  it('leaves short text alone', () => {
    expect(truncate('hello', 5)).toBe('hello');
  });

  it('ends with an ellipsis within the limit', () => {
    expect(truncate('hello world', 8)).toBe('hello w…');
  });

  it('never splits a surrogate pair or a grapheme cluster', () => {
    const family = '👩‍👩‍👧‍👦'; // 11 UTF-16 units, one grapheme
    const cut = truncate(`ab${family}cd`, 10);
    expect(cut).toBe('ab…');
    const flags = truncate('🇫🇷🇩🇪🇮🇹', 6);
    expect(flags).toBe('🇫🇷…');
    expect(truncate('😀😀😀', 4)).toBe('😀…');
  });
});

describe('LimitedEmbedBuilder.fit', () => {
  it('drops empty fields, bad URLs and bad timestamps', () => {
    const embed = fitEmbed({
      title: 't',
      url: 'javascript:alert(1)',
      fields: [
        { name: 'a', value: '' },
        { name: '', value: 'v' },
        { name: 'b', value: '   ' },
      ],
      timestamp: 'not a date',
    });
    expect(embed).toEqual({ title: 't', fields: [{ name: '\u200b', value: 'v' }] });
  });

  it('keeps the whole embed within 6000 characters, shrinking the description first', () => {
    const embed = fitEmbed({
      title: 'x'.repeat(300),
      description: 'd'.repeat(5000),
      fields: Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, value: 'v'.repeat(1100) })),
      footer: { text: 'f'.repeat(3000) },
    });
    expect(embed.title).toHaveLength(256);
    expect(embed.description).toBeUndefined();
    expect(embed.fields!.length).toBeLessThan(25);
    expect(embed.fields![0]!.value).toHaveLength(1024);
    expect(embedLength(embed)).toBeLessThanOrEqual(6000);
  });

  it('shrinks the description before dropping fields', () => {
    const embed = fitEmbed({
      description: 'd'.repeat(5000),
      fields: Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, value: 'v'.repeat(100) })),
      footer: { text: 'f'.repeat(2048) },
    });
    expect(embed.fields).toHaveLength(25);
    expect(embed.description!.length).toBeLessThan(4096);
    expect(embed.description!.endsWith('…')).toBe(true);
    expect(embedLength(embed)).toBe(6000);
  });
});

describe('partsThatFit', () => {
  const part = (description: string, content?: string) => ({ embeds: [{ description }], ...(content ? { content } : {}) });

  it('packs at most 10 embeds and at most 6000 characters, and always at least one', () => {
    const small = part('x'.repeat(100));
    expect(partsThatFit(Array(15).fill(small))).toBe(10);
    const big = part('x'.repeat(2500));
    expect(partsThatFit([big, big, big])).toBe(2);
    expect(partsThatFit([part('x'.repeat(6000)), small])).toBe(1);
  });

  it('shares a message only between parts with the same content: a ping with pings, none with none', () => {
    const small = part('x');
    const ping = part('x', '<@&1>');
    expect(partsThatFit([ping, small])).toBe(1);
    expect(partsThatFit([small, small, ping, small])).toBe(2);
    expect(partsThatFit([ping, ping, ping, small])).toBe(3);
    expect(partsThatFit([part('x', 'template text a'), part('x', 'template text b')])).toBe(1);
  });
});
