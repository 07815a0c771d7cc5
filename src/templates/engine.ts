import { createRequire } from 'node:module';
import type { Context, Liquid, Template } from 'liquidjs';
import { levelColor } from '../embed/colors.js';
import { escapeText, inlineCode, prose } from '../embed/markdown.js';
import { truncate } from '../embed/text.js';
import { discordTimestamp, type TimeValue } from '../embed/time.js';
import { TemplateError } from './template-error.js';

/**
 * Limits that keep a template from hurting the process. They count work, not time, so the same
 * template and payload always give the same result, whatever the load on the machine.
 */
export const TEMPLATE_LIMITS = {
  /** The modal's paragraph input takes at most 4000 characters. */
  sourceChars: 4000,
  /**
   * Liquid render steps for the whole event, all its strings together: a step is one template
   * node rendered, and every loop iteration takes at least one. A rich template takes a few hundred.
   */
  steps: 10_000,
  /** Characters and items Liquid allocates (ranges, filters' results, every value output). */
  memory: 1024 * 1024,
  /** Only a last resort, far above any real render: the limits above stop runaway templates first. */
  wallClockMs: 1000,
} as const;

interface LiquidLimiter {
  use(count: number): void;
  check(now: number): void;
}

/** One budget per event, shared by all of its strings. */
export class RenderBudget {
  private steps = 0;
  private memory = 0;
  private readonly deadline: number;

  constructor(now: number = performance.now()) {
    this.deadline = now + TEMPLATE_LIMITS.wallClockMs;
  }

  /** What Liquid calls for every node it renders (its "render limit"), counting steps instead of reading a clock. */
  readonly work: LiquidLimiter = {
    use: () => {},
    check: (now) => {
      this.steps += 1;
      if (this.steps > TEMPLATE_LIMITS.steps) throw new Error(`render limit exceeded: more than ${TEMPLATE_LIMITS.steps} steps`);
      if (now > this.deadline) throw new Error(`render limit exceeded: over ${TEMPLATE_LIMITS.wallClockMs} ms`);
    },
  };

  /** What Liquid charges allocations to (its "memory limit"); every output value is charged too. */
  readonly allocations: LiquidLimiter = {
    use: (count) => {
      if (!(count > 0)) return;
      this.memory += count;
      if (this.memory > TEMPLATE_LIMITS.memory) throw new Error(`memory limit exceeded: over ${TEMPLATE_LIMITS.memory} characters`);
    },
    check: () => {},
  };
}

/** A render context that knows whether its string is shown as markdown (and so escapes what it prints). */
type DispatchContext = Context & { escapeOutput: boolean };

/**
 * Every `{{ value }}` passes here: its size is charged to the event's budget and, where the string
 * is shown as markdown (content, description, fields), the value is escaped: what a payload says is
 * shown as text and can never link, format or mention. `| raw` prints a value as it is; the
 * helpers below that make markup on purpose (`discord_time`, `code`) are not escaped either.
 */
function printValue(this: { context: Context }, value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  (this.context.memoryLimit as unknown as LiquidLimiter).use(text.length);
  return (this.context as DispatchContext).escapeOutput ? escapeText(text) : text;
}

interface Engine {
  liquid: Liquid;
  DispatchContext: new (...args: ConstructorParameters<typeof Context>) => DispatchContext;
}

let engine: Engine | undefined;

/**
 * The Liquid engine for templates, made on first use: most installations never set a template,
 * and liquidjs is a few MiB an idle bot need not hold (it is loaded synchronously, through
 * require, so parsing and rendering stay synchronous). No file system (includes and layouts
 * resolve against an empty in-memory map), only own properties of the data, undefined variables
 * are errors (except in conditions and `default`), and parsing and rendering are bounded.
 */
function liquidEngine(): Engine {
  if (engine) return engine;
  const { Context: LiquidContext, Liquid: LiquidEngine } = createRequire(import.meta.url)('liquidjs') as typeof import('liquidjs');
  class DispatchContextClass extends LiquidContext {
    escapeOutput = false;
  }
  const liquid = new LiquidEngine({
    templates: {},
    strictVariables: true,
    lenientIf: true,
    ownPropertyOnly: true,
    strictFilters: true,
    parseLimit: TEMPLATE_LIMITS.sourceChars * 2,
    outputEscape: printValue,
  });
  // Helpers for Discord messages, beside Liquid's standard filters (truncate, date, default, json…).
  // Each is the helper Dispatch's own embeds use, so a template shows payload text the same way.

  /** `{{ payload.data.issue.lastSeen | discord_time: "R" }}` → `<t:1700000000:R>`, shown in each reader's time zone. */
  liquid.registerFilter('discord_time', {
    raw: true,
    handler: (value: unknown, style: unknown = 'R') => discordTimestamp(value as TimeValue, String(style)) ?? '',
  });
  /** `{{ payload.data.issue.level | level_color }}` → the color Dispatch's own embeds use for that level. */
  liquid.registerFilter('level_color', (level: unknown) => levelColor(typeof level === 'string' ? level : undefined));
  /** Inline code that a backtick in the value cannot break. */
  liquid.registerFilter('code', { raw: true, handler: (value: unknown) => inlineCode(String(value ?? '')) ?? '' });
  /** Escapes Discord markdown in payload text (what printing a value in content, description or fields does anyway). */
  liquid.registerFilter('escape_markdown', { raw: true, handler: (value: unknown) => prose(String(value ?? '')) ?? '' });
  engine = { liquid, DispatchContext: DispatchContextClass };
  return engine;
}

export function parseLiquid(source: string, where: string): Template[] {
  try {
    return liquidEngine().liquid.parse(source);
  } catch (error) {
    throw new TemplateError('syntax', `${where}: ${firstLine(error)}`);
  }
}

/** Renders one string, charging its work to the event's budget; `markdown` strings escape what they print. */
export function renderLiquid(templates: Template[], data: object, where: string, budget: RenderBudget, markdown: boolean): string {
  const { liquid, DispatchContext } = liquidEngine();
  const limits = { renderLimit: budget.work as never, memoryLimit: budget.allocations as never, liquid };
  const context = new DispatchContext(data, liquid.options, { sync: true }, limits);
  context.escapeOutput = markdown;
  try {
    return liquid.renderSync(templates, context) as string;
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
