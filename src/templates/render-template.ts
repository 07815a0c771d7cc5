import type { APIEmbed, APIEmbedField } from 'discord.js';
import { CONTENT_LIMIT, EMBED_LIMITS, embedLength } from '../embed/limits.js';
import { truncate } from '../embed/text.js';
import { RenderBudget, renderLiquid } from './engine.js';
import { roleMentionsIn, type CompiledTemplate } from './template-spec.js';
import { TemplateError } from './template-error.js';
import { asRoleId, type RoleId } from '../ids.js';

/** What a template sees. */
export interface TemplateEvent {
  type: string;
  resource: string;
  action: string;
  receivedAt: number;
  payload: unknown;
}

export interface RenderedMessage {
  embed: APIEmbed;
  content?: string;
  /**
   * Roles `content` may ping: only with allow_role_mentions, and only roles written in the
   * template's own text (a value printed from the payload never adds one). Never @everyone,
   * @here or users.
   */
  allowedRoleIds: RoleId[];
  /** Things dropped on the way (an empty field, a bad URL), shown by preview. */
  warnings: string[];
}

/**
 * Strings Discord draws as markdown (an embed's title too: emphasis, strike-through, code, and the
 * backslashes that escape them): what they print from a payload is escaped.
 */
const MARKDOWN_PATH = /^(content|embed\.(title|description)|embed\.fields\.\d+\.(name|value))$/;

/**
 * Renders a compiled template against an event. Anything that keeps it from making a message
 * Discord accepts throws a TemplateError (the caller then posts the built-in embed); lesser
 * problems are dropped with a warning.
 */
export function renderTemplate(template: CompiledTemplate, event: TemplateEvent): RenderedMessage {
  const data = {
    event: { type: event.type, resource: event.resource, action: event.action, received_at: new Date(event.receivedAt).toISOString() },
    payload: event.payload,
  };
  const warnings: string[] = [];
  const budget = new RenderBudget();
  const render = (path: string): string | undefined => {
    const parsed = template.parsed.get(path);
    return parsed ? renderLiquid(parsed, data, path, budget, MARKDOWN_PATH.test(path)).trim() : undefined;
  };
  const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const url = (path: string): string | undefined => {
    const value = nonEmpty(render(path));
    if (value === undefined) return undefined;
    if (/^https?:\/\/\S+$/.test(value) && value.length <= EMBED_LIMITS.url) return value;
    warnings.push(`${path}: "${truncate(value, 60)}" is not an http(s) URL, so it was left out`);
    return undefined;
  };

  const { embed: spec } = template.spec;
  const embed: APIEmbed = {};
  const title = nonEmpty(render('embed.title'));
  if (title) embed.title = title;
  const description = nonEmpty(render('embed.description'));
  if (description) embed.description = description;
  const link = url('embed.url');
  if (link) embed.url = link;
  if (typeof spec.color === 'number') embed.color = spec.color;
  else if (spec.color !== undefined) embed.color = parseColor(render('embed.color') ?? '');
  const fields = renderFields(template, render, warnings);
  if (fields.length > 0) embed.fields = fields;
  const footerText = nonEmpty(typeof spec.footer === 'string' ? render('embed.footer') : render('embed.footer.text'));
  if (footerText) embed.footer = { text: footerText, ...optional('icon_url', url('embed.footer.icon_url')) };
  const authorName = nonEmpty(typeof spec.author === 'string' ? render('embed.author') : render('embed.author.name'));
  if (authorName)
    embed.author = { name: authorName, ...optional('url', url('embed.author.url')), ...optional('icon_url', url('embed.author.icon_url')) };
  const thumbnail = typeof spec.thumbnail === 'string' ? url('embed.thumbnail') : url('embed.thumbnail.url');
  if (thumbnail) embed.thumbnail = { url: thumbnail };
  const timestamp = nonEmpty(render('embed.timestamp'));
  if (timestamp) {
    if (Number.isNaN(Date.parse(timestamp)))
      warnings.push(`embed.timestamp: "${truncate(timestamp, 40)}" is not a date, so it was left out`);
    else embed.timestamp = new Date(timestamp).toISOString();
  }

  const content = nonEmpty(render('content'));
  assertWithinLimits(embed, content);
  const allowedRoleIds =
    template.spec.allow_role_mentions && content
      ? roleMentionsIn(content)
          .filter((id) => template.literalRoleIds.includes(id))
          .map(asRoleId)
      : [];
  return { embed, ...(content ? { content } : {}), allowedRoleIds, warnings };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function renderFields(template: CompiledTemplate, render: (path: string) => string | undefined, warnings: string[]): APIEmbedField[] {
  const spec = template.spec.embed.fields;
  let raw: { name: unknown; value: unknown; inline?: unknown }[];
  if (typeof spec === 'string') {
    const text = render('embed.fields') ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new TemplateError('invalid JSON', `embed.fields did not render to JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed) || parsed.some((f) => typeof f !== 'object' || f === null)) {
      throw new TemplateError('invalid JSON', 'embed.fields must render to a JSON list of {"name", "value", "inline"} objects');
    }
    raw = parsed as typeof raw;
  } else {
    raw = (spec ?? []).map((f, i) => ({
      name: render(`embed.fields.${i}.name`),
      value: render(`embed.fields.${i}.value`),
      inline: typeof f.inline === 'string' ? render(`embed.fields.${i}.inline`) : f.inline,
    }));
  }
  const out: APIEmbedField[] = [];
  raw.forEach((f, i) => {
    const name = String(f.name ?? '').trim();
    const value = String(f.value ?? '').trim();
    if (value === '') {
      warnings.push(`embed.fields.${i} ("${truncate(name, 40)}") rendered empty, so it was left out`);
      return;
    }
    out.push({ name: name || '\u200b', value, ...(f.inline === true || f.inline === 'true' ? { inline: true } : {}) });
  });
  return out;
}

function parseColor(text: string): number {
  const value = text.trim();
  const n = /^#[0-9a-f]{6}$/i.test(value)
    ? parseInt(value.slice(1), 16)
    : /^0x[0-9a-f]{1,6}$/i.test(value)
      ? parseInt(value, 16)
      : /^\d{1,8}$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff)
    throw new TemplateError('render', `embed.color: "${truncate(value, 20)}" is not a color (use #rrggbb, 0xrrggbb or a number)`);
  return n;
}

const CHECKS: [string, (embed: APIEmbed) => number, number][] = [
  ['embed.title', (e) => e.title?.length ?? 0, EMBED_LIMITS.title],
  ['embed.description', (e) => e.description?.length ?? 0, EMBED_LIMITS.description],
  ['embed.fields (count)', (e) => e.fields?.length ?? 0, EMBED_LIMITS.fields],
  ['embed.footer', (e) => e.footer?.text.length ?? 0, EMBED_LIMITS.footerText],
  ['embed.author', (e) => e.author?.name.length ?? 0, EMBED_LIMITS.authorName],
  ['the embed in all', embedLength, EMBED_LIMITS.total],
];

/** Over Discord's limits is a failure, not a silent cut: the admin should see it in preview. */
function assertWithinLimits(embed: APIEmbed, content: string | undefined): void {
  for (const [what, measure, limit] of CHECKS) {
    const n = measure(embed);
    if (n > limit) throw new TemplateError('limits', `${what} is ${n} characters long; Discord allows ${limit}`);
  }
  for (const [i, f] of (embed.fields ?? []).entries()) {
    if (f.name.length > EMBED_LIMITS.fieldName)
      throw new TemplateError(
        'limits',
        `embed.fields.${i}.name is ${f.name.length} characters long; Discord allows ${EMBED_LIMITS.fieldName}`,
      );
    if (f.value.length > EMBED_LIMITS.fieldValue)
      throw new TemplateError(
        'limits',
        `embed.fields.${i}.value is ${f.value.length} characters long; Discord allows ${EMBED_LIMITS.fieldValue}`,
      );
  }
  if ((content?.length ?? 0) > CONTENT_LIMIT)
    throw new TemplateError('limits', `content is ${content!.length} characters long; Discord allows ${CONTENT_LIMIT}`);
  if (!embed.title && !embed.description && !embed.fields && !embed.author)
    throw new TemplateError('render', 'the template rendered an empty embed');
}
