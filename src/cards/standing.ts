import type { CardState } from './card-state.js';

/**
 * Where the issue stands (status, substatus, assignee: what a read-back compares, see sync.ts
 * `drift`), and how an event may change it: which payloads say a field is now empty, which say
 * nothing of the status, and as of when the card knows.
 */
export const STANDING: readonly (keyof CardState)[] = ['status', 'substatus', 'assignee', 'assigneeId'];

/** An issue payload is the whole issue: a field it sends as null is empty now, not unknown. */
const NULLABLE: Record<string, (keyof CardState)[]> = {
  substatus: ['substatus'],
  assignedTo: ['assignee', 'assigneeId'],
  priority: ['priority'],
};

/** The card's fields an issue (a webhook's `data.issue`, or Sentry's API answer) says are empty. */
export function clearedIn(rawIssue: unknown): (keyof CardState)[] {
  if (rawIssue === null || typeof rawIssue !== 'object') return [];
  return Object.entries(NULLABLE).flatMap(([key, fields]) => ((rawIssue as Record<string, unknown>)[key] === null ? fields : []));
}

/**
 * An assignment says who, not where the issue stands: its snapshot's status may be older than what
 * the card shows. A card it starts takes the snapshot's, the best it knows.
 */
export function withoutStatus(prev: CardState | undefined, update: Partial<CardState>): Partial<CardState> {
  if (prev?.status === undefined) return update;
  const { status: _status, substatus: _substatus, resolution: _resolution, ...rest } = update;
  return rest;
}

/** Whether an event says where the issue stands (so the card knows it as of the event's time). */
export function saysWhereItStands(update: Partial<CardState>, clear: readonly (keyof CardState)[]): boolean {
  return STANDING.some((key) => update[key] !== undefined || clear.includes(key));
}
