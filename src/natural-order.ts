/**
 * Names in the order people count them: `pad-2` before `pad-10` (SQL's `order by` puts `pad-10`
 * first). One collator for every list of names a member reads.
 */
const collator = new Intl.Collator('en', { numeric: true });

export function byNaturalOrder(a: string, b: string): number {
  return collator.compare(a, b);
}

/**
 * How many names an autocomplete search reads (the first in code order) before sorting them
 * naturally: bounded work whatever the number of names; with more matches than this, the first
 * shown may not be the naturally first, and typing more narrows them.
 */
export const NAME_CANDIDATES = 250;
