import type { APIEmbed } from 'discord.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMBED_LIMITS, embedLength } from '../../src/embed/limits.js';
import { formatEvent, genericEmbed } from '../../src/sentry/registry.js';
import { everyStringHostile, markdownParts, markupLeaks } from '../support/hostile.js';
import { envelopeFixtures, eventTypeOfFixture, loadFixture } from '../support/sentry.js';

/** Throws unless Discord would accept the embed. */
export function assertWithinLimits(embed: APIEmbed): void {
  const texts = [
    embed.title,
    embed.description,
    embed.footer?.text,
    embed.author?.name,
    ...(embed.fields ?? []).flatMap((f) => [f.name, f.value]),
  ];
  for (const t of texts) if (t !== undefined && !t.isWellFormed()) throw new Error(`split surrogate in ${JSON.stringify(t.slice(-4))}`);
  expect(embed.title?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.title);
  expect(embed.description?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.description);
  expect(embed.fields?.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.fields);
  for (const f of embed.fields ?? []) {
    expect(f.name.length).toBeGreaterThan(0);
    expect(f.name.length).toBeLessThanOrEqual(EMBED_LIMITS.fieldName);
    expect(f.value.trim().length).toBeGreaterThan(0);
    expect(f.value.length).toBeLessThanOrEqual(EMBED_LIMITS.fieldValue);
  }
  expect(embed.footer?.text.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.footerText);
  expect(embed.author?.name.length ?? 0).toBeLessThanOrEqual(EMBED_LIMITS.authorName);
  expect(embedLength(embed)).toBeLessThanOrEqual(EMBED_LIMITS.total);
  if (embed.url) expect(embed.url).toMatch(/^https?:\/\//);
  if (embed.timestamp) expect(Number.isNaN(Date.parse(embed.timestamp))).toBe(false);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: Json, path: (string | number)[], replacement: Json | undefined): Json {
  if (path.length === 0) return replacement ?? null;
  const copy = structuredClone(root) as Record<string | number, Json>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (replacement === undefined) delete node[last];
  else node[last] = replacement;
  return copy;
}

// Text that stresses truncation: long, emoji with modifiers, flags, combining marks, markdown and mentions.
const nastyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 900, maxLength: 5000 }),
  fc.constantFrom('👩🏽‍💻'.repeat(600), '🇫🇷'.repeat(1500), 'é'.repeat(3000), '`'.repeat(2000), '@everyone <@&123> **x** ||y||', ''),
);
const replacement: fc.Arbitrary<Json | undefined> = fc.oneof(
  nastyText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.array(nastyText, { maxLength: 40 }),
  fc.dictionary(fc.string({ maxLength: 8 }), nastyText, { maxKeys: 30 }),
);

/** A fixture with some of its values replaced, removed, retyped or truncated. */
function mutated(fixture: Json): fc.Arbitrary<Json> {
  const all = paths(fixture);
  return fc.array(fc.tuple(fc.nat(all.length - 1), replacement), { minLength: 1, maxLength: 8 }).map((edits) =>
    edits.reduce<Json>((acc, [index, value]) => {
      try {
        return setAt(acc, all[index]!, value);
      } catch {
        return acc; // the path went away with an earlier edit
      }
    }, fixture),
  );
}

const byResource = new Map<string, { action: string; fixture: Json }[]>();
for (const file of envelopeFixtures()) {
  const { resource, action } = eventTypeOfFixture(file);
  byResource.set(resource, [...(byResource.get(resource) ?? []), { action, fixture: loadFixture(file) as Json }]);
}
/** Fixed so CI is repeatable; `FC_SEED=<n> npm test` explores other payloads. */
const SEED = Number(process.env.FC_SEED ?? 20261127);

byResource.set('unknown_resource', [{ action: 'happened', fixture: { action: 'happened', data: { thing: { project: 'p' } } } }]);

describe.each([...byResource.keys()])('the %s formatter', (resource) => {
  const samples = byResource.get(resource)!;
  const render = (action: string, payload: unknown) => {
    const type = `${resource}.${action}`;
    // The formatter without the fallback to the generic embed: it must not throw on its own.
    assertWithinLimits(formatEvent(type, payload));
    assertWithinLimits(genericEmbed(type, payload));
  };

  it('never throws and stays within Discord limits on mutated real payloads', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples).chain((s) => mutated(s.fixture).map((p) => [s.action, p] as const)),
        ([action, payload]) => render(action, payload),
      ),
      { numRuns: 1000, seed: SEED },
    );
  });

  it('shows every string of a real payload as text: each one made hostile, nothing in the markdown links, mentions or formats', () => {
    for (const { action, fixture } of samples) {
      const payload = everyStringHostile(fixture);
      for (const embed of [formatEvent(`${resource}.${action}`, payload), genericEmbed(`${resource}.${action}`, payload)]) {
        expect(markdownParts({ embeds: [embed] }).flatMap(markupLeaks), `${resource}.${action}`).toEqual([]);
      }
    }
  });

  it('never throws and stays within Discord limits on random payloads', () => {
    fc.assert(
      fc.property(fc.constantFrom(...samples.map((s) => s.action), 'x'), fc.oneof(fc.anything(), fc.jsonValue()), (action, payload) =>
        render(action, payload),
      ),
      { numRuns: 1000, seed: SEED },
    );
  });
});
