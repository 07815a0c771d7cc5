import { applyEvent, type CardState } from '../cards/state.js';
import { isOwnEvent } from '../own-events.js';

/**
 * What a digest knows of its period, in two parts: a tally of every delivery, from metadata only
 * (its type and the issue it is about: no body is read), and the state of the issues it will show,
 * folded from a bounded number of their bodies. Pure: the reading is src/db/digest-read.ts's.
 */

/** What happened to one issue (or metric alert incident) in the period, counted from its deliveries. */
export interface IssueTally {
  key: string;
  events: number;
  created: boolean;
  regressed: boolean;
  resolved: boolean;
  assigned: boolean;
  alerts: number;
  comments: number;
  /** Order of first appearance (a delivery's seq). */
  first: number;
}

/** An issue the digest shows: its tally and its state, folded as its card would be. */
export interface IssueSummary extends IssueTally {
  state: CardState;
}

/** One delivery as the tally sees it. */
export interface TallyRow {
  seq: number;
  eventType: string;
  cardKey: string | null;
}

/** An alert that fired, as counted per issue (or incident) and type; its rule's name is read from one body. */
export interface AlertTally {
  cardKey: string | null;
  eventType: string;
  count: number;
  /** Its latest delivery, whose body names the rule. */
  latest: number;
}

/** At most this many issues are tallied one by one; the events of the rest are counted in `unlisted`. */
export const MAX_TALLIED_ISSUES = 50_000;

/** An issue alert, or a metric alert going warning or critical (not its resolution). */
export const isFiredAlert = (type: string) =>
  type === 'event_alert.triggered' || type === 'metric_alert.critical' || type === 'metric_alert.warning';

/** The running count of a period's deliveries, fed a page at a time. */
export class DigestTally {
  total = 0;
  /** Events about no issue. */
  others = 0;
  /** Events of issues past MAX_TALLIED_ISSUES. */
  unlisted = 0;
  readonly issues = new Map<string, IssueTally>();
  readonly alerts = new Map<string, AlertTally>();

  add(row: TallyRow): void {
    if (isOwnEvent(row.eventType)) return;
    this.total += 1;
    if (isFiredAlert(row.eventType)) {
      const key = `${row.cardKey ?? ''}|${row.eventType}`;
      const alert = this.alerts.get(key) ?? { cardKey: row.cardKey, eventType: row.eventType, count: 0, latest: row.seq };
      alert.count += 1;
      alert.latest = Math.max(alert.latest, row.seq);
      this.alerts.set(key, alert);
    }
    if (!row.cardKey) {
      this.others += 1;
      return;
    }
    let issue = this.issues.get(row.cardKey);
    if (!issue) {
      if (this.issues.size >= MAX_TALLIED_ISSUES) {
        this.unlisted += 1;
        return;
      }
      issue = {
        key: row.cardKey,
        events: 0,
        created: false,
        regressed: false,
        resolved: false,
        assigned: false,
        alerts: 0,
        comments: 0,
        first: row.seq,
      };
      this.issues.set(row.cardKey, issue);
    }
    issue.events += 1;
    issue.first = Math.min(issue.first, row.seq);
    const type = row.eventType;
    if (type === 'issue.created') issue.created = true;
    if (type === 'issue.unresolved') issue.regressed = true;
    if (type === 'issue.resolved') issue.resolved = true;
    if (type === 'issue.assigned') issue.assigned = true;
    if (type.startsWith('event_alert.') || type.startsWith('metric_alert.')) issue.alerts += 1;
    if (type.startsWith('comment.')) issue.comments += 1;
  }
}

/** What the digest shows, ready to be written (see buildDigest). */
export interface DigestFacts {
  /** Sentry's events of the period (Dispatch's own are not counted). */
  total: number;
  /** Events about no issue. */
  others: number;
  /** The issues it may show, with their state, and how many more issues there were. */
  issues: IssueSummary[];
  moreIssues: number;
  /** Events of the period that were not tallied (beyond what a digest reads). */
  unread: number;
  /** Alerts that fired, by rule, most first. */
  alertsByRule: [string, number][];
  /** Events per project (of the issues shown, and the rest as `undefined`'s count), most first. */
  byProject: [string, number][];
}

/** Up to this many issues are read in full enough to show: the busiest, and those new, regressed or resolved in the period. */
export const SHOWN_ISSUES = 200;

/** The issues worth reading the state of: the busiest, then the new, regressed and resolved ones not among them (a few each). */
export function issuesToRead(tally: DigestTally, limit = SHOWN_ISSUES): IssueTally[] {
  const all = [...tally.issues.values()];
  const byEvents = (a: IssueTally, b: IssueTally) => b.events - a.events || a.first - b.first;
  const chosen = new Map<string, IssueTally>();
  const take = (issues: IssueTally[], n: number) => {
    for (const issue of issues.slice(0, n)) chosen.set(issue.key, issue);
  };
  take(all.filter((i) => i.created).sort(byEvents), 20);
  take(
    all.filter((i) => i.regressed).sort((a, b) => a.first - b.first),
    20,
  );
  take(
    all.filter((i) => i.resolved).sort((a, b) => a.first - b.first),
    20,
  );
  take([...all].sort(byEvents), Math.max(0, limit - chosen.size));
  return [...chosen.values()];
}

/** The rule an alert event names (an issue alert's rule, a metric alert's name), read as the card does. */
export function alertRuleOf(eventType: string, payload: unknown, cardKey: string | null): string {
  const { state } = applyEvent(undefined, { type: eventType, payload, key: cardKey ?? 'issue:', at: 0 });
  return state.alert?.rule ?? state.incident?.rule ?? eventType;
}

/** Facts from a tally and the states read for some of its issues. */
export function factsOf(tally: DigestTally, states: ReadonlyMap<string, CardState>, alertRules: ReadonlyMap<string, string>): DigestFacts {
  const issues = [...states].flatMap(([key, state]) => {
    const issue = tally.issues.get(key);
    return issue ? [{ ...issue, state }] : [];
  });
  const byRule = new Map<string, number>();
  for (const [key, alert] of tally.alerts) {
    const rule = alertRules.get(key) ?? alert.eventType;
    byRule.set(rule, (byRule.get(rule) ?? 0) + alert.count);
  }
  const byProject = new Map<string, number>();
  for (const issue of issues) {
    const project = issue.state.project ?? issue.state.incident?.projects?.[0];
    if (project) byProject.set(project, (byProject.get(project) ?? 0) + issue.events);
  }
  return {
    total: tally.total,
    others: tally.others,
    issues,
    moreIssues: tally.issues.size - issues.length,
    unread: tally.unlisted,
    alertsByRule: [...byRule].sort((a, b) => b[1] - a[1]),
    byProject: [...byProject].sort((a, b) => b[1] - a[1]),
  };
}

/** One delivery with its payload, as stored: what the pure path and the tests fold in full. */
export interface DigestEvent {
  eventType: string;
  payload: unknown;
  receivedAt: number;
  /** `issue:<id>` or `incident:<id>`; events about neither are counted, not listed. */
  cardKey: string | null;
}

/** The facts of a period from all of its events at hand (tests, and small periods): every issue's state folded in full. */
export function factsOfEvents(events: readonly DigestEvent[]): DigestFacts {
  const tally = new DigestTally();
  const states = new Map<string, CardState>();
  const rules = new Map<string, string>();
  events.forEach((event, seq) => {
    tally.add({ seq, eventType: event.eventType, cardKey: event.cardKey });
    if (isOwnEvent(event.eventType)) return;
    if (event.cardKey && tally.issues.has(event.cardKey)) {
      const { state } = applyEvent(states.get(event.cardKey), {
        type: event.eventType,
        payload: event.payload,
        key: event.cardKey,
        at: event.receivedAt,
      });
      states.set(event.cardKey, state);
    }
    if (isFiredAlert(event.eventType))
      rules.set(`${event.cardKey ?? ''}|${event.eventType}`, alertRuleOf(event.eventType, event.payload, event.cardKey));
  });
  return factsOf(tally, states, rules);
}
