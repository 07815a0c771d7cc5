import { splitEventType } from './event-type.js';

/**
 * What Dispatch reads from a payload besides its formatters: the level, environment, projects,
 * tags and issue an event is about. Route filters, footers, flood summaries and cards use these.
 * Where each lives differs per resource; this table is the one place that says where (the README
 * shows the same table, and a test keeps them equal).
 */
export interface EventFacts {
  /** `debug`, `info`, `warning`, `error` or `fatal`; undefined when the event has none. */
  level?: Level;
  environment?: string;
  /** Project slugs (a metric alert can span several). */
  projects: string[];
  organization?: string;
  tags: Record<string, string>;
  /** The Sentry issue (group) id the event is about. */
  issueId?: string;
  /** The metric alert incident an event is about. */
  incidentId?: string;
}

export const LEVELS = ['debug', 'info', 'warning', 'error', 'fatal'] as const;
export type Level = (typeof LEVELS)[number];

type Fact = 'level' | 'environment' | 'projects' | 'organization' | 'tags' | 'issueId' | 'incidentId';

interface Reader {
  /** For people: where the value is read. */
  where: string;
  read(payload: unknown, action: string): unknown;
}

function valueAt(payload: unknown, path: string): unknown {
  let node = payload;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const at = (path: string): Reader => ({ where: `\`${path}\``, read: (payload) => valueAt(payload, path) });

const present = (value: unknown) => value !== undefined && value !== null && value !== '';

function firstOf(...readers: Reader[]): Reader {
  return {
    where: readers.map((r) => r.where).join(', else '),
    read: (payload, action) => readers.map((r) => r.read(payload, action)).find(present),
  };
}

const tag = (path: string, key: string): Reader => ({
  where: `its \`${key}\` tag`,
  read: (payload) => tagsOf(valueAt(payload, path))[key],
});

/** Error events carry the numeric project id; the slug is in the event's API URL. */
const projectInUrl = (path: string): Reader => ({
  where: `the project in \`${path}\``,
  read: (payload) => {
    const url = valueAt(payload, path);
    return typeof url === 'string' ? /\/projects\/[^/]+\/([^/]+)\/events\//.exec(url)?.[1] : undefined;
  },
});

/** The organization in a Sentry URL: `/organizations/<org>/` or `/projects/<org>/` in the path, or `<org>.sentry.io`. */
const orgInUrl = (path: string): Reader => ({
  where: `the organization in \`${path}\``,
  read: (payload) => {
    const url = valueAt(payload, path);
    if (typeof url !== 'string') return undefined;
    return /\/(?:organizations|projects)\/([^/]+)\//.exec(url)?.[1] ?? /^https:\/\/([a-z0-9-]+)\.sentry\.io\//.exec(url)?.[1];
  },
});

const byAction = (levels: Record<string, Level>): Reader => ({
  where: `the action (${Object.entries(levels)
    .map(([action, level]) => `${action} → ${level}`)
    .join(', ')})`,
  read: (_payload, action) => levels[action],
});

/** For resources without a table entry: the first `project` or `project_slug` one level under `data`. */
const anyProject: Reader = {
  where: '`project` or `project_slug` of the first object under `data`',
  read: (payload) => {
    const data = valueAt(payload, 'data');
    if (data === null || typeof data !== 'object') return undefined;
    for (const value of [data, ...Object.values(data)]) {
      const project = valueAt(value, 'project');
      const found = typeof project === 'string' ? project : (valueAt(project, 'slug') ?? valueAt(value, 'project_slug'));
      if (typeof found === 'string' && found !== '') return found;
    }
    return undefined;
  },
};

const sentryEvent = (base: string): Partial<Record<Fact, Reader>> => ({
  level: firstOf(at(`${base}.level`), tag(`${base}.tags`, 'level')),
  environment: firstOf(at(`${base}.environment`), tag(`${base}.tags`, 'environment')),
  projects: projectInUrl(`${base}.url`),
  tags: at(`${base}.tags`),
  issueId: at(`${base}.issue_id`),
  organization: firstOf(orgInUrl(`${base}.web_url`), orgInUrl(`${base}.url`)),
});

/** Where each fact is read, per resource. A resource not listed here is read with `anyProject`. */
export const FACT_SOURCES: Record<string, Partial<Record<Fact, Reader>>> = {
  issue: {
    level: at('data.issue.level'),
    projects: at('data.issue.project.slug'),
    issueId: at('data.issue.id'),
    organization: firstOf(orgInUrl('data.issue.url'), orgInUrl('data.issue.web_url')),
  },
  error: sentryEvent('data.error'),
  event_alert: sentryEvent('data.event'),
  metric_alert: {
    level: byAction({ critical: 'error', warning: 'warning' }),
    environment: at('data.metric_alert.alert_rule.environment'),
    projects: firstOf(at('data.metric_alert.projects'), at('data.metric_alert.alert_rule.projects')),
    incidentId: firstOf(at('data.metric_alert.id'), at('data.metric_alert.identifier')),
  },
  comment: { projects: at('data.project_slug'), issueId: at('data.issue_id') },
  seer: { issueId: at('data.group_id') },
  activity_alert: {
    level: at('data.issue.level'),
    projects: at('data.issue.project.slug'),
    issueId: at('data.issue.id'),
    organization: firstOf(orgInUrl('data.issue.url'), orgInUrl('data.issue.web_url')),
  },
  preprod_artifact: { projects: at('data.projectSlug') },
  installation: { organization: at('data.installation.organization.slug') },
};

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value.trim() || undefined : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;

/** Sentry sends tags as `[["key", "value"], …]`, sometimes as `[{key, value}]` or an object. */
function tagsOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (key: unknown, val: unknown) => {
    const k = text(key);
    const v = text(val);
    if (k !== undefined && v !== undefined && !Object.hasOwn(out, k)) out[k] = v;
  };
  if (Array.isArray(value)) {
    for (const item of value) {
      if (Array.isArray(item)) put(item[0], item[1]);
      else if (item && typeof item === 'object') put((item as { key?: unknown }).key, (item as { value?: unknown }).value);
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) put(k, v);
  }
  return out;
}

function levelOf(value: unknown): Level | undefined {
  const level = text(value)?.toLowerCase();
  if (level === 'critical') return 'fatal'; // Python's logging name for Sentry's fatal
  return (LEVELS as readonly string[]).includes(level ?? '') ? (level as Level) : undefined;
}

function projectsOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return [...new Set(list.map(text).filter((p): p is string => p !== undefined))];
}

export function eventFacts(eventType: string, payload: unknown): EventFacts {
  const { resource, action } = splitEventType(eventType);
  const sources = FACT_SOURCES[resource] ?? { projects: anyProject };
  const read = (fact: Fact) => sources[fact]?.read(payload, action);
  return {
    level: levelOf(read('level')),
    environment: text(read('environment')),
    projects: projectsOf(read('projects')),
    organization: text(read('organization')),
    tags: tagsOf(read('tags')),
    issueId: text(read('issueId')),
    incidentId: text(read('incidentId')),
  };
}
