import { z } from 'zod';
import { LimitedEmbedBuilder } from '../../embed/builder.js';
import { COLORS } from '../../embed/colors.js';
import { codeBlock, oneLine } from '../../embed/markdown.js';
import { truncate } from '../../embed/text.js';
import { loose, optString, parseLoose } from '../loose-schema.js';
import type { Formatter } from './types.js';

const Envelope = z.looseObject({
  data: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

const TitleCarrier = loose({ title: optString });

/** The first title one level under `data`, where common Sentry payloads keep one. */
function titleIn(data: Record<string, unknown> | undefined): string | undefined {
  for (const value of [data, ...Object.values(data ?? {})]) {
    const title = parseLoose(TitleCarrier, value).title;
    if (title) return title;
  }
  return undefined;
}

/** A compact, readable excerpt of an unknown payload: leaf values by path, at most `maxLines`. */
function excerpt(value: unknown, maxLines = 12): string | undefined {
  const lines: string[] = [];
  const walk = (node: unknown, path: string, depth: number): void => {
    if (lines.length >= maxLines) return;
    if (node === null || typeof node !== 'object') {
      if (node === undefined || node === null || node === '') return;
      const text = String(node).replace(/\s+/g, ' ');
      lines.push(`${truncate(path, 60)}: ${truncate(text, 80)}`);
      return;
    }
    if (depth >= 3) return;
    // Array.from, not map: map skips the holes of a sparse array and the destructuring below would throw.
    const entries = Array.isArray(node) ? Array.from(node.slice(0, 3), (v, i) => [String(i), v] as const) : Object.entries(node);
    for (const [key, child] of entries) {
      if (lines.length >= maxLines) return;
      walk(child, path ? `${path}.${key}` : key, depth + 1);
    }
  };
  walk(value, '', 0);
  return lines.length > 0 ? codeBlock(lines.join('\n'), 'yaml', 1500) : undefined;
}

/** Any event without a formatter of its own: type, a title if one is found, and a compact excerpt. Never fails. */
export const genericFormatter: Formatter = (event) => {
  const { data } = parseLoose(Envelope, event.payload);
  return new LimitedEmbedBuilder()
    .setTitle(event.type)
    .setDescription([oneLine(titleIn(data)), excerpt(data)].filter(Boolean).join('\n'))
    .setColor(COLORS.gray);
};
