import { Liquid, type Template } from 'liquidjs';
import { truncate } from '../sentry/embed-limits.js';
import { levelColor } from '../sentry/formatters/parts.js';
import { TemplateError } from './template-error.js';

/** Limits that keep a template from hurting the process: size, render time, memory. */
export const TEMPLATE_LIMITS = {
  /** The modal's paragraph input takes at most 4000 characters. */
  sourceChars: 4000,
  /** For the whole event, all its strings together: rendering shares the event loop with webhooks. */
  renderMs: 20,
  memoryBytes: 1024 * 1024,
} as const;

/**
 * The Liquid engine for templates. No file system (includes and layouts resolve against an empty
 * in-memory map), only own properties of the data, undefined variables are errors (except in
 * conditions and `default`), and parsing, rendering time and memory are bounded.
 */
const liquid = new Liquid({
  templates: {},
  strictVariables: true,
  lenientIf: true,
  ownPropertyOnly: true,
  strictFilters: true,
  parseLimit: TEMPLATE_LIMITS.sourceChars * 2,
  renderLimit: TEMPLATE_LIMITS.renderMs,
  memoryLimit: TEMPLATE_LIMITS.memoryBytes,
});

// Helpers for Discord messages, beside Liquid's standard filters (truncate, date, default, json…).

/** `{{ payload.data.issue.lastSeen | discord_time: "R" }}` → `<t:1700000000:R>`, shown in each reader's time zone. */
liquid.registerFilter('discord_time', (value: unknown, style: unknown = 'R') => {
  const ms = typeof value === 'number' ? value * (value < 1e12 ? 1000 : 1) : Date.parse(String(value));
  const styles = new Set(['t', 'T', 'd', 'D', 'f', 'F', 'R']);
  return Number.isNaN(ms) ? '' : `<t:${Math.floor(ms / 1000)}:${styles.has(String(style)) ? String(style) : 'R'}>`;
});
/** `{{ payload.data.issue.level | level_color }}` → the color Dispatch's own embeds use for that level. */
liquid.registerFilter('level_color', (level: unknown) => levelColor(typeof level === 'string' ? level : undefined));
/** Inline code that a backtick in the value cannot break. */
liquid.registerFilter('code', (value: unknown) => {
  const text = String(value ?? '')
    .replace(/`/g, 'ˋ')
    .replace(/\s+/g, ' ')
    .trim();
  return text ? `\`${text}\`` : '';
});
/** Escapes Discord markdown in payload text. */
liquid.registerFilter('escape_markdown', (value: unknown) => String(value ?? '').replace(/([\\*_~`|>#\-[\]()])/g, '\\$1'));

export function parseLiquid(source: string, where: string): Template[] {
  try {
    return liquid.parse(source);
  } catch (error) {
    throw new TemplateError('syntax', `${where}: ${firstLine(error)}`);
  }
}

/** Renders one string within `budgetMs`, what is left of the event's render time. */
export function renderLiquid(templates: Template[], data: object, where: string, budgetMs: number): string {
  if (budgetMs <= 0) throw new TemplateError('render', `${where}: rendering took longer than ${TEMPLATE_LIMITS.renderMs} ms`);
  try {
    return liquid.renderSync(templates, data, { renderLimit: budgetMs }) as string;
  } catch (error) {
    const message = firstLine(error);
    const kind = /undefined variable/i.test(message) ? 'missing variable' : 'render';
    throw new TemplateError(kind, `${where}: ${message}`);
  }
}

/** liquidjs messages carry the template line and a caret on the next lines; the first line says it. */
function firstLine(error: unknown): string {
  return truncate(String((error as Error).message ?? error).split('\n')[0]!, 300);
}
