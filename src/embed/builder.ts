import { normalizeArray, type APIEmbed, type APIEmbedField, type ColorResolvable, type RestOrArray } from 'discord.js';
import { EMBED_LIMITS, embedLength } from './limits.js';
import { nonBlank, truncate } from './text.js';
import { toMillis, type TimeValue } from './time.js';
import { webUrl } from './urls.js';

const cut = (text: string | null | undefined, max: number): string | null => {
  const shown = nonBlank(text);
  return shown === undefined ? null : truncate(shown, max);
};

/**
 * An embed builder (discord.js's EmbedBuilder's setters) whose setters cut every value to
 * Discord's limits, so building never throws: blank text clears, long text is cut on a grapheme
 * boundary, a URL that is not http(s) is left out, fields past 25 are dropped. `toJSON()` also
 * keeps the whole embed within the 6,000 characters of a message (the description shrinks first,
 * then trailing fields go) and never returns an empty embed.
 *
 * It does not extend EmbedBuilder: every value is already within the limits here, and
 * EmbedBuilder's validation (an error object with a stack trace per optional check) was 4 % of the
 * process's CPU under load, for nothing.
 */
export class LimitedEmbedBuilder {
  readonly data: APIEmbed = {};

  /** Sets a key, or clears it with null. */
  private put<K extends keyof APIEmbed>(key: K, value: APIEmbed[K] | null): this {
    if (value === null || value === undefined) delete this.data[key];
    else this.data[key] = value;
    return this;
  }

  /** The same embed, made to fit: how an embed from elsewhere (a template) is brought within the limits. */
  static fit(embed: APIEmbed): APIEmbed {
    const builder = new LimitedEmbedBuilder()
      .setTitle(embed.title)
      .setURL(embed.url)
      .setDescription(embed.description)
      .setColor(embed.color)
      .setTimestamp(embed.timestamp)
      .addFields(embed.fields ?? []);
    if (embed.author) builder.setAuthor({ name: embed.author.name, url: embed.author.url, iconURL: embed.author.icon_url });
    if (embed.footer) builder.setFooter({ text: embed.footer.text, iconURL: embed.footer.icon_url });
    if (embed.thumbnail) builder.setThumbnail(embed.thumbnail.url);
    return builder.toJSON();
  }

  setTitle(title: string | null | undefined): this {
    return this.put('title', cut(title, EMBED_LIMITS.title));
  }

  setDescription(description: string | null | undefined): this {
    return this.put('description', cut(description, EMBED_LIMITS.description));
  }

  setURL(url: string | null | undefined): this {
    return this.put('url', webUrl(url) ?? null);
  }

  /** Only a number 0x000000–0xffffff; anything else leaves the embed without a color. */
  setColor(color: ColorResolvable | null | undefined): this {
    const valid = typeof color === 'number' && Number.isInteger(color) && color >= 0 && color <= 0xffffff;
    return this.put('color', valid ? color : null);
  }

  setTimestamp(timestamp?: TimeValue | Date): this {
    const ms = timestamp instanceof Date ? timestamp.getTime() : toMillis(timestamp);
    return this.put('timestamp', Number.isNaN(ms) ? null : new Date(ms).toISOString());
  }

  setAuthor(options: { name: string | undefined; url?: string; iconURL?: string } | null): this {
    const name = cut(options?.name, EMBED_LIMITS.authorName);
    if (!options || name === null) return this.put('author', null);
    return this.put('author', { name, url: webUrl(options.url), icon_url: webUrl(options.iconURL) });
  }

  setFooter(options: { text: string | undefined; iconURL?: string } | null): this {
    const text = cut(options?.text, EMBED_LIMITS.footerText);
    if (!options || text === null) return this.put('footer', null);
    return this.put('footer', { text, icon_url: webUrl(options.iconURL) });
  }

  setThumbnail(url: string | null | undefined): this {
    const shown = webUrl(url);
    return this.put('thumbnail', shown ? { url: shown } : null);
  }

  /** Fields with a blank value are left out; names and values are cut; at most 25 in all. */
  addFields(...fields: RestOrArray<APIEmbedField | undefined>): this {
    const room = EMBED_LIMITS.fields - (this.data.fields?.length ?? 0);
    const shown = normalizeArray(fields)
      .flatMap((f) => {
        const value = f ? cut(f.value, EMBED_LIMITS.fieldValue) : null;
        if (!f || value === null) return [];
        return [{ name: cut(f.name, EMBED_LIMITS.fieldName) ?? '\u200b', value, ...(f.inline ? { inline: true } : {}) }];
      })
      .slice(0, Math.max(0, room));
    if (shown.length > 0) this.data.fields = [...(this.data.fields ?? []), ...shown];
    return this;
  }

  toJSON(): APIEmbed {
    const embed = structuredClone(this.data);
    for (const key of Object.keys(embed) as (keyof APIEmbed)[]) if (embed[key] === undefined) delete embed[key];
    if (embed.author && !embed.author.url) delete embed.author.url;
    if (embed.author && !embed.author.icon_url) delete embed.author.icon_url;
    if (embed.footer && !embed.footer.icon_url) delete embed.footer.icon_url;
    if (!embed.title) delete embed.url;
    if (!embed.title && !embed.description && !embed.fields) embed.description = '(empty event)';
    return shrinkToTotal(embed, EMBED_LIMITS.total);
  }
}

function shrinkToTotal(embed: APIEmbed, total: number): APIEmbed {
  let over = embedLength(embed) - total;
  if (over <= 0) return embed;
  if (embed.description) {
    const keep = Math.max(0, embed.description.length - over);
    if (keep > 1) embed.description = truncate(embed.description, keep);
    else delete embed.description;
    over = embedLength(embed) - total;
  }
  while (over > 0 && embed.fields && embed.fields.length > 0) {
    embed.fields.pop();
    over = embedLength(embed) - total;
  }
  if (over > 0 && embed.footer) embed.footer.text = truncate(embed.footer.text, Math.max(1, embed.footer.text.length - over));
  if (embed.fields?.length === 0) delete embed.fields;
  return embed;
}
