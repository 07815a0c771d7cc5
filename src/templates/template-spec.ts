import type { Template } from 'liquidjs';
import { z } from 'zod';
import { parseLiquid, TEMPLATE_LIMITS } from './engine.js';
import { TemplateError } from './template-error.js';

const text = z.string().max(TEMPLATE_LIMITS.sourceChars);
const field = z.strictObject({ name: text, value: text, inline: z.union([z.boolean(), text]).optional() });

/** What an admin pastes: JSON whose strings are Liquid templates. */
export const TemplateSchema = z.strictObject({
  content: text.optional(),
  allow_role_mentions: z.boolean().optional(),
  embed: z.strictObject({
    title: text.optional(),
    description: text.optional(),
    url: text.optional(),
    color: z.union([z.number().int().min(0).max(0xffffff), text]).optional(),
    /** A list of fields, or one Liquid string that renders to a JSON list of fields (for loops). */
    fields: z.union([z.array(field).max(25), text]).optional(),
    footer: z.union([text, z.strictObject({ text, icon_url: text.optional() })]).optional(),
    author: z.union([text, z.strictObject({ name: text, url: text.optional(), icon_url: text.optional() })]).optional(),
    thumbnail: z.union([text, z.strictObject({ url: text })]).optional(),
    timestamp: text.optional(),
  }),
});
export type TemplateSpec = z.infer<typeof TemplateSchema>;

/** A template with every string already parsed by Liquid, ready to render many times. */
export interface CompiledTemplate {
  spec: TemplateSpec;
  parsed: Map<string, Template[]>;
  /** Roles mentioned in the content's own text (outside `{{ }}` and `{% %}`): the only ones it may ping. */
  literalRoleIds: string[];
}

const ROLE_MENTION = /<@&(\d{17,20})>/g;

/** The roles a text mentions. */
export function roleMentionsIn(text: string): string[] {
  return [...new Set([...text.matchAll(ROLE_MENTION)].map((m) => m[1]!))];
}

/** The text of a Liquid string outside its tags and outputs. */
function literalText(source: string): string {
  return source.replace(/\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g, '\u0000');
}

/**
 * Checks a template as pasted: size, JSON, shape, and the Liquid syntax of every string.
 * Throws a TemplateError whose message says what and where.
 */
export function compileTemplate(source: string): CompiledTemplate {
  if (source.length > TEMPLATE_LIMITS.sourceChars) {
    throw new TemplateError('limits', `A template is at most ${TEMPLATE_LIMITS.sourceChars} characters; this one has ${source.length}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(source);
  } catch (error) {
    throw new TemplateError('invalid JSON', `The template is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = TemplateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TemplateError('syntax', `The template's ${issue.path.join('.') || 'top level'} is not right: ${issue.message}.`);
  }
  const templates = new Map<string, Template[]>();
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') templates.set(path, parseLiquid(value, path));
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}.${i}`));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k);
  };
  visit(parsed.data, '');
  return { spec: parsed.data, parsed: templates, literalRoleIds: roleMentionsIn(literalText(parsed.data.content ?? '')) };
}
