import { discordTimestamp } from '../embed/time.js';
import { isArchived, type StatusDetails } from '../sentry/issue-status.js';
import type { ArchiveCondition, CardState } from './card-state.js';

/**
 * An issue archived until a condition (Sentry's `archived_until_condition_met`): what the card
 * keeps of it and how it says it ("archived for 24 h, until 14:05", "archived until 100 more
 * events"). The one place for it: the folds keep it, the card and the DM draw it.
 */

const UNTIL_MET = 'archived_until_condition_met';

/** What Sentry's `statusDetails` say of the condition, if anything. */
export function archiveOf(details: StatusDetails | undefined): ArchiveCondition | undefined {
  const { ignoreUntil: until, ignoreCount: count, ignoreWindow: window } = details ?? {};
  if (!until && count === undefined) return undefined;
  return { ...(until ? { until } : {}), ...(count !== undefined ? { count } : {}), ...(window ? { window } : {}) };
}

/**
 * The condition as the card keeps it after an update: the update's (an archive ending at the same
 * time keeps how long it was asked for: Sentry's webhook for a change made from Discord does not
 * say), the card's own while the update says nothing of it, none once the issue is not archived
 * until a condition. `clear` says the card's is to go.
 */
export function keptArchive(prev: CardState | undefined, update: Partial<CardState>): { archive?: ArchiveCondition; clear: boolean } {
  const status = update.status ?? prev?.status;
  const substatus = update.status !== undefined ? update.substatus : prev?.substatus;
  if (!isArchived(status) || (substatus !== undefined && substatus !== UNTIL_MET)) return { clear: prev?.archive !== undefined };
  const next = update.archive;
  if (!next) return { clear: false };
  const sameEnd = prev?.archive?.minutes !== undefined && prev.archive.until === next.until;
  return { archive: sameEnd ? { ...next, minutes: prev.archive!.minutes } : next, clear: false };
}

/** 60 → "1 h", 1440 → "24 h", 10080 → "7 d", 30 → "30 min". */
export function durationWords(minutes: number): string {
  if (minutes % 1440 === 0 && minutes > 1440) return `${minutes / 1440} d`;
  if (minutes % 60 === 0) return `${minutes / 60} h`;
  return `${minutes} min`;
}

/**
 * The condition as a card's status says it after "archived", as Discord markdown (the time is a
 * time tag, shown in each reader's zone): "for 24 h, until 14:05". Undefined when unknown.
 */
export function archiveConditionText(state: Pick<CardState, 'status' | 'substatus' | 'archive'>): string | undefined {
  const archive = state.archive;
  if (!archive || !isArchived(state.status) || state.substatus !== UNTIL_MET) return undefined;
  if (archive.until) {
    // Within a day the time says it; further off, the date too.
    const short = archive.minutes !== undefined && archive.minutes <= 1440;
    const until = discordTimestamp(archive.until, short ? 't' : 'f');
    if (until) return `${archive.minutes !== undefined ? `for ${durationWords(archive.minutes)}, ` : ''}until ${until}`;
  }
  if (archive.count !== undefined) {
    const within = archive.window ? ` within ${durationWords(archive.window)}` : '';
    return `until ${archive.count.toLocaleString('en-US')} more event${archive.count === 1 ? '' : 's'}${within}`;
  }
  return undefined;
}
