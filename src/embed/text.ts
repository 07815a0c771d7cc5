const ELLIPSIS = '…';
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Cuts text to at most `max` UTF-16 units (Discord counts no more than that), ending with an
 * ellipsis, without splitting a grapheme (an emoji with modifiers, a surrogate pair, a flag).
 */
export function truncate(text: string, max: number, ellipsis: string = ELLIPSIS): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  const budget = max - ellipsis.length;
  let out = '';
  for (const { segment } of segmenter.segment(text)) {
    if (out.length + segment.length > budget) break;
    out += segment;
  }
  return out + ellipsis;
}

/** Text that shows something, or undefined for nothing, empty or only white space. */
export function nonBlank(text: string | null | undefined): string | undefined {
  return text === undefined || text === null || text.trim() === '' ? undefined : text;
}

/** `resolved_in_release` → `Resolved in release`. */
export function humanize(text: string | undefined): string | undefined {
  return text?.replace(/[_-]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}
