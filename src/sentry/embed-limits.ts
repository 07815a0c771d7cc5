import type { APIEmbed, APIEmbedField } from 'discord.js';

/** Discord's limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits */
export const EMBED_LIMITS = {
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** Over all embeds of one message. */
  total: 6000,
  embedsPerMessage: 10,
  url: 2048,
} as const;

const ELLIPSIS = '…';
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Cuts text to at most `max` UTF-16 units (Discord counts no more than that), ending with an
 * ellipsis, without splitting a grapheme (an emoji with modifiers, a surrogate pair, a flag).
 */
export function truncate(text: string, max: number, ellipsis: string = ELLIPSIS): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  const budget = max - ellipsis.length;
  let out = '';
  for (const { segment } of segmenter.segment(text)) {
    if (out.length + segment.length > budget) break;
    out += segment;
  }
  return out + ellipsis;
}

export function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
  n += (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  for (const field of embed.fields ?? []) n += field.name.length + field.value.length;
  return n;
}

function safeUrl(url: string | undefined): string | undefined {
  if (!url || url.length > EMBED_LIMITS.url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function nonBlank(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text;
}

function fitField(field: APIEmbedField): APIEmbedField | undefined {
  const value = nonBlank(field.value);
  if (value === undefined) return undefined;
  return {
    name: truncate(nonBlank(field.name) ?? '\u200b', EMBED_LIMITS.fieldName),
    value: truncate(value, EMBED_LIMITS.fieldValue),
    ...(field.inline ? { inline: true } : {}),
  };
}

/**
 * Returns a copy of the embed that Discord will accept: every text within its limit, no empty
 * field, only http(s) URLs, a valid timestamp and color, and at most `total` characters overall
 * (the description shrinks first, then trailing fields go).
 */
export function fitEmbed(embed: APIEmbed, total: number = EMBED_LIMITS.total): APIEmbed {
  const out: APIEmbed = {};
  const title = nonBlank(embed.title);
  if (title) out.title = truncate(title, EMBED_LIMITS.title);
  const description = nonBlank(embed.description);
  if (description) out.description = truncate(description, EMBED_LIMITS.description);
  const url = safeUrl(embed.url);
  if (url && out.title) out.url = url;
  if (typeof embed.color === 'number' && Number.isInteger(embed.color) && embed.color >= 0 && embed.color <= 0xffffff) {
    out.color = embed.color;
  }
  const author = nonBlank(embed.author?.name);
  if (author) {
    out.author = { name: truncate(author, EMBED_LIMITS.authorName) };
    const authorUrl = safeUrl(embed.author?.url);
    if (authorUrl) out.author.url = authorUrl;
    const icon = safeUrl(embed.author?.icon_url);
    if (icon) out.author.icon_url = icon;
  }
  const thumbnail = safeUrl(embed.thumbnail?.url);
  if (thumbnail) out.thumbnail = { url: thumbnail };
  const fields = (embed.fields ?? []).map(fitField).filter((f): f is APIEmbedField => f !== undefined);
  if (fields.length > 0) out.fields = fields.slice(0, EMBED_LIMITS.fields);
  const footer = nonBlank(embed.footer?.text);
  if (footer) out.footer = { text: truncate(footer, EMBED_LIMITS.footerText) };
  if (embed.timestamp && !Number.isNaN(Date.parse(embed.timestamp))) out.timestamp = new Date(embed.timestamp).toISOString();
  if (!out.title && !out.description && !out.fields) out.description = '(empty event)';
  return shrinkToTotal(out, total);
}

function shrinkToTotal(embed: APIEmbed, total: number): APIEmbed {
  let over = embedLength(embed) - total;
  if (over <= 0) return embed;
  if (embed.description) {
    const keep = Math.max(0, embed.description.length - over);
    embed.description = keep > 1 ? truncate(embed.description, keep) : undefined;
    over = embedLength(embed) - total;
  }
  while (over > 0 && embed.fields && embed.fields.length > 0) {
    embed.fields.pop();
    over = embedLength(embed) - total;
  }
  if (over > 0 && embed.footer) embed.footer.text = truncate(embed.footer.text, Math.max(1, embed.footer.text.length - over));
  if (embed.fields?.length === 0) delete embed.fields;
  if (embed.description === undefined) delete embed.description;
  return embed;
}
