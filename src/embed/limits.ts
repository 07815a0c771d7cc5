import type { APIEmbed } from 'discord.js';

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

/** A message's `content`. */
export const CONTENT_LIMIT = 2000;

/** The characters Discord counts toward the 6,000 of a message. */
export function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
  n += (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  for (const field of embed.fields ?? []) n += field.name.length + field.value.length;
  return n;
}
