/**
 * The direct messages a connected member may ask for (`/dispatch me notify`), each about an issue
 * assigned to them in Sentry, and never about a change they made themselves.
 */
export const DM_KINDS = {
  assigned: 'an issue is assigned to you (from Discord or in Sentry)',
  regressed: 'an issue assigned to you regresses or escalates',
  resolved: 'an issue assigned to you is resolved by someone else',
  comments: 'someone comments on an issue assigned to you',
} as const;

export type DmKind = keyof typeof DM_KINDS;

export const DM_KIND_NAMES = Object.keys(DM_KINDS) as DmKind[];

/** Without a choice: only assignments. */
export const DEFAULT_DM_KINDS: readonly DmKind[] = ['assigned'];

const isKind = (name: string): name is DmKind => Object.hasOwn(DM_KINDS, name);

/** The stored list (`assigned,comments`) as kinds; unknown words are ignored. */
export function parseDmKinds(stored: string): Set<DmKind> {
  return new Set(
    stored
      .split(',')
      .map((k) => k.trim())
      .filter(isKind),
  );
}

/** How a set of kinds is stored, in the table's order. */
export const storedDmKinds = (kinds: ReadonlySet<DmKind>): string => DM_KIND_NAMES.filter((k) => kinds.has(k)).join(',');

/** "assigned and comments", or "none". */
export function dmKindsInWords(kinds: ReadonlySet<DmKind>): string {
  const names = DM_KIND_NAMES.filter((k) => kinds.has(k)).map((k) => `\`${k}\``);
  if (names.length === 0) return 'none';
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
