import type { APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { floodSummaryEmbed } from '../../src/delivery/flood-summary.js';
import { renderEvent } from '../../src/render/render-event.js';
import { formatEvent } from '../../src/sentry/registry.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture } from '../support/sentry.js';

type Path = (string | number)[];

/** The leaf paths a formatter reads of a payload, found by watching it read (a recording proxy). */
function pathsRead(type: string, payload: unknown): Path[] {
  const read = new Map<string, Path>();
  const watch = (value: unknown, path: Path): unknown => {
    if (value === null || typeof value !== 'object') return value;
    return new Proxy(value, {
      get(target, key, receiver) {
        const child = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
        const at = [...path, Array.isArray(target) ? Number(key) : key];
        if (child === null || typeof child !== 'object') read.set(JSON.stringify(at), at);
        return watch(child, at);
      },
    });
  };
  formatEvent(type, watch(payload, []));
  return [...read.values()];
}

function setAt(root: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  if (value === undefined) delete node[path[path.length - 1]!];
  else node[path[path.length - 1]!] = value;
  return copy;
}

/** The text of each part of an embed, by name: what a reader would miss if it went. */
function parts(embed: APIEmbed): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of ['title', 'description', 'url'] as const) if (embed[key]) out.set(key, String(embed[key]));
  if (embed.author) out.set('author', embed.author.name);
  for (const f of embed.fields ?? []) out.set(`field ${f.name}`, f.value);
  return out;
}

const OTHER_TYPES: unknown[] = [12345, '12345', true, null, [], {}, 'text'];

describe('type-tolerant formatters', () => {
  it.each(envelopeFixtures())('%s: a value of another JSON type costs at most what removing it costs, and never throws', (file) => {
    const { type } = eventTypeOfFixture(file);
    const fixture = loadFixture(file);
    const before = parts(formatEvent(type, fixture));
    for (const path of pathsRead(type, fixture)) {
      // The parts this value shows in: those that change when it is removed or holds another value of its own type.
      const original = path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], fixture);
      const probe = typeof original === 'string' ? `${original}~probe` : typeof original === 'number' ? original + 1 : !original;
      const changed = (payload: unknown) => {
        const after = parts(formatEvent(type, payload));
        return [...before.keys()].filter((k) => after.get(k) !== before.get(k));
      };
      const dependent = new Set([...changed(setAt(fixture, path, undefined)), ...changed(setAt(fixture, path, probe))]);
      for (const other of OTHER_TYPES) {
        const after = parts(formatEvent(type, setAt(fixture, path, other)));
        for (const [key, text] of before) {
          if (dependent.has(key)) continue;
          expect(after.get(key), `${file} ${JSON.stringify(path)} = ${JSON.stringify(other)}: ${key}`).toBe(text);
        }
      }
    }
  });

  it('shows a number or boolean where text was expected as text', () => {
    const error = loadFixture('error.created.json') as { data: { error: { exception: { values: { value: unknown }[] } } } };
    error.data.error.exception.values[0]!.value = 12345;
    const errorEmbed = formatEvent('error.created', error);
    expect(errorEmbed.title).toBe('ReferenceError: 12345');
    const issue = loadFixture('issue.created.json') as { data: { issue: Record<string, unknown> } };
    issue.data.issue.title = 404;
    issue.data.issue.count = '17';
    issue.data.issue.priority = true;
    const issueEmbed = formatEvent('issue.created', issue);
    expect(issueEmbed.title).toBe('404');
    expect(issueEmbed.fields).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'Events', value: '17' }),
        expect.objectContaining({ name: 'Priority', value: 'true' }),
      ]),
    );
  });
});

describe('payloads 10,000 levels deep', () => {
  const deep = (inner: string) => '{"a":'.repeat(10_000) + inner + '}'.repeat(10_000);
  const bodies = [
    `{"action":"created","data":${deep('1')}}`,
    `{"action":"created","data":{"issue":${deep('"x"')}}}`,
    `{"action":"created","data":{"error":{"exception":{"values":[${deep('{}')}]},"tags":${deep('[]')}}}}`,
    `{"action":"created","data":{"comment":${deep('null')},"project_slug":"p"}}`,
  ];

  it.each([
    'issue.created',
    'error.created',
    'comment.created',
    'event_alert.triggered',
    'metric_alert.critical',
    'seer.pr_created',
    'unknown.thing',
  ])('%s: formatters, templates and flood summaries stay safe', (eventType) => {
    const template = { eventPattern: '*', body: JSON.stringify({ embed: { title: 'deep', description: '{{ payload | json }}' } }) };
    for (const body of bodies) {
      const plain = renderEvent({ eventType, receivedAt: 0, body });
      expect(plain.embeds).toHaveLength(1);
      const templated = renderEvent({ eventType, receivedAt: 0, body }, template);
      expect(templated.embeds).toHaveLength(1);
      expect(templated.templateFailure?.kind).toBe('render'); // JSON of 10,000 levels is too deep to print: the built-in embed stands in
      const summary = floodSummaryEmbed({
        eventType,
        count: 3,
        project: plain.facts.projects[0],
        firstReceivedAt: 0,
        lastReceivedAt: 1,
        examples: [plain.embeds[0]!.title ?? eventType],
      });
      expect(summary.title).toContain(eventType);
    }
  });
});
