import { z } from 'zod';
import { parseEventPattern, patternsMatching } from '../sentry/event-type.js';
import { LEVELS, type EventFacts, type Level } from '../sentry/facts.js';
import { UserError } from '../user-error.js';

/**
 * Which events a route lets through. Every part is optional and they combine with AND; a part
 * the event carries no value for lets it through (an issue has no environment, a comment no level):
 * the README's table says where each value is read per event type (src/sentry/facts.ts).
 */
export interface RouteFilter {
  /** Event patterns (`issue.*`, `metric_alert.critical`); `!` excludes (`!error.created`). */
  events?: string[];
  minLevel?: Level;
  environments?: string[];
  /** Project slugs. */
  projects?: string[];
  /** `key=value` pairs, all of which must hold. */
  tags?: [string, string][];
}

const StoredFilter = z.object({
  events: z.array(z.string()).optional(),
  minLevel: z.enum(LEVELS).optional(),
  environments: z.array(z.string()).optional(),
  projects: z.array(z.string()).optional(),
  tags: z.array(z.tuple([z.string(), z.string()])).optional(),
});

/** A filter part a member typed that is not right; the message names the part and what it takes. */
export class FilterError extends UserError {}

const LIST_SEPARATOR = /[\s,]+/;
/** Typed in a filter option: clear that part. */
export const CLEAR = '-';

function list(raw: string, separator: RegExp = LIST_SEPARATOR): string[] {
  return raw
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);
}

function eventsPart(raw: string): string[] {
  const patterns = list(raw);
  if (patterns.length === 0)
    throw new FilterError('`events` is empty: give event patterns like `issue.*, !issue.resolved`, or `-` to clear it.');
  return patterns.map((item) => {
    const excluded = item.startsWith('!');
    const pattern = parseEventPattern(excluded ? item.slice(1) : item);
    if (pattern === undefined || item === '!') {
      throw new FilterError(
        `\`events\`: "${item.slice(0, 80)}" is not an event pattern. Use \`issue.created\`, \`issue.*\` or \`*\`, with \`!\` to exclude (\`!error.created\`).`,
      );
    }
    return `${excluded ? '!' : ''}${pattern}`;
  });
}

function levelPart(raw: string): Level {
  const level = raw.trim().toLowerCase();
  if (!(LEVELS as readonly string[]).includes(level))
    throw new FilterError(`\`min-level\`: "${raw.slice(0, 40)}" is not a level. Use one of ${LEVELS.join(', ')}.`);
  return level as Level;
}

function namesPart(option: string, raw: string): string[] {
  const names = list(raw);
  if (names.length === 0)
    throw new FilterError(`\`${option}\` is empty: give one or more names separated by commas, or \`-\` to clear it.`);
  for (const name of names) {
    if (name.length > 100 || /[<>@`]/.test(name)) throw new FilterError(`\`${option}\`: "${name.slice(0, 40)}" is not a name Sentry uses.`);
  }
  return names;
}

function tagsPart(raw: string): [string, string][] {
  // Commas only: tag values can hold spaces (`os=Mac OS X`).
  const pairs = list(raw, /,/);
  if (pairs.length === 0)
    throw new FilterError('`tags` is empty: give `key=value` pairs like `customer=acme, region=eu`, or `-` to clear it.');
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (at <= 0 || value === '' || /[<>@`]/.test(pair))
      throw new FilterError(`\`tags\`: "${pair.slice(0, 60)}" is not a \`key=value\` pair.`);
    return [key, value];
  });
}

/** The filter options of `route add` / `route edit` as typed; undefined leaves a part as it was, `-` clears it. */
export interface FilterOptions {
  events?: string | null;
  minLevel?: string | null;
  environments?: string | null;
  projects?: string | null;
  tags?: string | null;
}

/** `current` changed by what was typed. Throws a FilterError naming the first wrong part. */
export function applyFilterOptions(current: RouteFilter, options: FilterOptions): RouteFilter {
  const next: RouteFilter = { ...current };
  const part = <K extends keyof RouteFilter>(key: K, raw: string | null | undefined, parse: (raw: string) => RouteFilter[K]) => {
    if (raw === undefined || raw === null) return;
    if (raw.trim() === CLEAR) delete next[key];
    else next[key] = parse(raw);
  };
  part('events', options.events, eventsPart);
  part('minLevel', options.minLevel, levelPart);
  part('environments', options.environments, (raw) => namesPart('environments', raw));
  part('projects', options.projects, (raw) => namesPart('projects', raw));
  part('tags', options.tags, tagsPart);
  return next;
}

export function serializeFilter(filter: RouteFilter): string {
  return JSON.stringify(filter);
}

/** A stored filter; one that does not read (written by hand, say) lets everything through rather than nothing. */
export function deserializeFilter(json: string): RouteFilter {
  try {
    const parsed = StoredFilter.safeParse(JSON.parse(json));
    return parsed.success ? (parsed.data as RouteFilter) : {};
  } catch {
    return {};
  }
}

const levelRank = (level: Level) => LEVELS.indexOf(level);

/** Whether the route lets the event through. */
export function matchesFilter(filter: RouteFilter, eventType: string, facts: EventFacts): boolean {
  if (filter.events?.length) {
    const candidates = patternsMatching(eventType);
    const included = filter.events.filter((p) => !p.startsWith('!'));
    const excluded = filter.events.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    if (included.length > 0 && !included.some((p) => candidates.includes(p))) return false;
    if (excluded.some((p) => candidates.includes(p))) return false;
  }
  if (filter.minLevel && facts.level && levelRank(facts.level) < levelRank(filter.minLevel)) return false;
  if (filter.environments?.length && facts.environment && !filter.environments.includes(facts.environment)) return false;
  if (filter.projects?.length && facts.projects.length > 0 && !facts.projects.some((p) => filter.projects!.includes(p))) return false;
  if (filter.tags?.length && Object.keys(facts.tags).length > 0 && !filter.tags.every(([k, v]) => facts.tags[k] === v)) return false;
  return true;
}

/** The patterns an included pattern stands for, as an event would be matched against them: `issue.*` is taken out by `issue.*` or `*`. */
function coveringPatterns(pattern: string): readonly string[] {
  if (pattern === '*') return ['*'];
  if (pattern.endsWith('.*')) return [pattern, '*'];
  return patternsMatching(pattern);
}

/**
 * Why a filter's `events` part can take no event at all (`!*`, or `issue.created, !issue.*`), in
 * words; undefined when some event can pass it.
 */
export function takesNoEvent(filter: RouteFilter): string | undefined {
  if (!filter.events?.length) return undefined;
  const excluded = filter.events.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  if (excluded.includes('*')) return '`!*` leaves out every event';
  const included = filter.events.filter((p) => !p.startsWith('!'));
  if (included.length > 0 && included.every((p) => coveringPatterns(p).some((c) => excluded.includes(c))))
    return `every pattern it takes (${included.map((p) => `\`${p}\``).join(', ')}) is also left out`;
  return undefined;
}

/**
 * Environments a filter names that the source's events never carry as written, but do in another
 * case (`Production` where events say `production`): environments match exactly.
 */
export function environmentCaseMismatches(filter: RouteFilter, seen: Iterable<string>): { typed: string; seen: string }[] {
  const known = [...new Set(seen)];
  return (filter.environments ?? []).flatMap((typed) => {
    if (known.includes(typed)) return [];
    const other = known.find((environment) => environment.toLowerCase() === typed.toLowerCase());
    return other === undefined ? [] : [{ typed, seen: other }];
  });
}

/** The filter in words, for `route list` and `info`. */
export function describeFilter(filter: RouteFilter): string {
  const parts = [
    filter.events?.length ? `events ${filter.events.join(', ')}` : undefined,
    filter.minLevel ? `level ≥ ${filter.minLevel}` : undefined,
    filter.environments?.length ? `environments ${filter.environments.join(', ')}` : undefined,
    filter.projects?.length ? `projects ${filter.projects.join(', ')}` : undefined,
    filter.tags?.length ? `tags ${filter.tags.map(([k, v]) => `${k}=${v}`).join(', ')}` : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : 'everything';
}

/** Whether an event at `level` reaches `threshold` (events without a level never do: used for pings). */
export function atOrAbove(level: Level | undefined, threshold: Level): boolean {
  return level !== undefined && levelRank(level) >= levelRank(threshold);
}
