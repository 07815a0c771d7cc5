/**
 * Names in the order people count them: `pad-2` before `pad-10` (SQL's `order by` puts `pad-10`
 * first). One collator for every list of names a member reads.
 */
const collator = new Intl.Collator('en', { numeric: true });

export function byNaturalOrder(a: string, b: string): number {
  return collator.compare(a, b);
}
