import type { APIEmbed } from 'discord.js';
import { isResolved } from '../cards/state.js';
import { COLORS } from '../embed/colors.js';
import { escapeText, link } from '../embed/markdown.js';
import { truncate } from '../embed/text.js';
import { EMBED_LIMITS } from '../embed/limits.js';
import type { DigestFacts, IssueSummary } from './digest-facts.js';
import { describeQuiet, type Period, type RouteSchedule } from './route-schedule.js';

/**
 * What a digest says, from the facts of one route's period (src/schedule/digest-facts.ts): pure
 * (facts in, embeds out). Each issue's state is folded through the card state
 * (src/cards/state.ts), so a digest names an issue, its status and its assignee as its card would.
 */

export interface DigestInput {
  kind: 'quiet' | 'scheduled' | 'now';
  schedule: RouteSchedule;
  period: Period;
  /** The route's name and channel, for the title. */
  routeName: string;
  /** Where each issue's card is, by card key (a link to the Discord message). */
  cardLinks: ReadonlyMap<string, string>;
  /** Posted this long after it was due (Dispatch was not running): it says so. */
  lateByMs: number;
  /** How many of the schedule's periods it covers (after a long stop, one digest stands in for several). */
  periods: number;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `**[PROJ-1A](link)** Title`: to its card when it has one, else to Sentry. */
function issueLink(summary: IssueSummary, cardLinks: ReadonlyMap<string, string>): string {
  const { state } = summary;
  const name = state.shortId ?? (state.kind === 'incident' ? (state.incident?.rule ?? 'Metric alert') : 'Issue');
  const title = escapeText(truncate((state.title ?? state.incident?.description ?? '').replace(/\s+/g, ' '), 90));
  const named = link(name, cardLinks.get(summary.key) ?? state.url) ?? escapeText(name);
  return `**${named}**${title ? ` ${title}` : ''}`;
}

/** What happened to it, in words: `new · assigned to Alice · 3 alerts · resolved`. */
function happenings(summary: IssueSummary): string {
  const { state } = summary;
  const words: string[] = [];
  if (summary.created) words.push('new');
  if (summary.regressed) words.push('regressed');
  if (summary.assigned && state.assignee) words.push(`assigned to ${escapeText(state.assignee)}`);
  if (state.kind === 'incident' && state.incident) words.push(`${state.incident.status}`);
  if (summary.alerts > 0 && state.kind !== 'incident') words.push(plural(summary.alerts, 'alert'));
  if (summary.comments > 0) {
    const latest =
      state.comment && !state.comment.deleted ? `, the latest: “${escapeText(truncate(state.comment.text.replace(/\s+/g, ' '), 80))}”` : '';
    words.push(`${plural(summary.comments, 'comment')}${latest}`);
  }
  if (summary.resolved || (state.kind === 'issue' && isResolved(state))) words.push('resolved');
  return words.join(' · ');
}

const lineOf = (summary: IssueSummary, links: ReadonlyMap<string, string>): string => {
  const what = happenings(summary);
  return `${issueLink(summary, links)}${what ? ` — ${what}` : ''} (${plural(summary.events, 'event')})`;
};

const byEvents = (a: IssueSummary, b: IssueSummary) => b.events - a.events || a.first - b.first;

/** A section: a heading and up to `max` lines, with a count of the rest (`more` beyond those listed). */
function section(heading: string, lines: readonly string[], max: number, more = 0): string[] {
  if (lines.length === 0) return [];
  const shown = lines.slice(0, max);
  const rest = lines.length - shown.length + more;
  return [`**${heading}**`, ...shown.map((l) => `• ${l}`), ...(rest > 0 ? [`• …and ${rest} more`] : []), ''];
}

const TOP = 5;
/** A quiet-hours digest lists this many issues (a few messages at most), busiest first, and counts the rest. */
export const QUIET_MAX = 100;

/** The lines of a scheduled (daily, weekly, or asked-for) digest. */
function scheduledLines(input: DigestInput, facts: DigestFacts): string[] {
  const link = (s: IssueSummary) => lineOf(s, input.cardLinks);
  const isIssue = (s: IssueSummary) => s.state.kind === 'issue';
  const { issues } = facts;
  return [
    ...section(
      'New issues',
      issues
        .filter((s) => isIssue(s) && s.created)
        .sort(byEvents)
        .map(link),
      TOP,
    ),
    ...section(
      'Still open, most events',
      issues
        .filter((s) => isIssue(s) && !isResolved(s.state))
        .sort(byEvents)
        .map(link),
      TOP,
      // Issues whose state was not read (past what a digest reads) may be open too: counted, not listed.
      facts.moreIssues,
    ),
    ...section(
      'Regressed',
      issues
        .filter((s) => isIssue(s) && s.regressed)
        .sort((a, b) => a.first - b.first)
        .map(link),
      TOP,
    ),
    ...section(
      'Resolved',
      issues
        .filter((s) => isIssue(s) && (s.resolved || isResolved(s.state)))
        .sort((a, b) => a.first - b.first)
        .map(link),
      TOP,
    ),
    ...section(
      'Alerts fired',
      facts.alertsByRule.map(([rule, n]) => `${escapeText(rule)} ×${n}`),
      TOP,
    ),
    ...section(
      'Busiest projects',
      facts.byProject.map(([project, n]) => `${escapeText(project)}: ${plural(n, 'event')}`),
      TOP,
    ),
  ];
}

/** The lines of a quiet-hours digest: per issue, what happened while the channel was quiet, busiest first. */
function quietLines(input: DigestInput, facts: DigestFacts): string[] {
  return section(
    'While it was quiet',
    [...facts.issues].sort(byEvents).map((s) => lineOf(s, input.cardLinks)),
    QUIET_MAX,
    facts.moreIssues,
  );
}

function when(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  }).format(ms);
}

/** The digest's title. */
export function digestTitle(input: Pick<DigestInput, 'kind' | 'schedule' | 'routeName'>): string {
  const { kind, schedule, routeName } = input;
  if (kind === 'quiet')
    return `🌙 Quiet hours are over (${schedule.quiet ? describeQuiet(schedule.quiet) : ''} ${schedule.timeZone}) · ${routeName}`;
  if (kind === 'now') return `📋 Digest so far · ${routeName}`;
  return `📋 ${schedule.digest?.every === 'weekly' ? 'Weekly' : 'Daily'} digest · ${routeName}`;
}

/**
 * The digest's embeds: one, or a few when there is a lot to say (each is its own message, so each
 * stays within one embed's limits). Empty when there is nothing to say and the route did not ask
 * to hear it.
 */
export function buildDigest(input: DigestInput, facts: DigestFacts): APIEmbed[] {
  const counted = facts.total;
  if (counted === 0 && input.kind !== 'now' && !input.schedule.digest?.whenEmpty) return [];
  const { timeZone } = input.schedule;
  const header = [
    `${when(input.period.start, timeZone)} – ${when(input.period.end, timeZone)} (${timeZone}) · ${plural(counted, 'event')}`,
    ...(input.lateByMs > 0
      ? [
          `⏰ Late: due ${when(input.period.end, timeZone)}, Dispatch was not running then${input.periods > 1 ? `; it covers ${input.periods} periods` : ''}.`,
        ]
      : []),
    '',
  ];
  const body = counted === 0 ? ['Nothing happened.'] : input.kind === 'quiet' ? quietLines(input, facts) : scheduledLines(input, facts);
  const footer = [
    ...(facts.others > 0 ? [`${plural(facts.others, 'other event')} (not about an issue).`] : []),
    ...(facts.unread > 0 ? [`…and ${plural(facts.unread, 'more event')} about issues not listed one by one.`] : []),
  ];
  return pack(digestTitle(input), [...header, ...body, ...footer]);
}

/** Lines into embeds of at most a description each; a line never splits. */
function pack(title: string, lines: readonly string[]): APIEmbed[] {
  const limit = EMBED_LIMITS.description - 100;
  const pages: string[][] = [[]];
  let size = 0;
  for (const line of lines.map((l) => truncate(l, 1000))) {
    if (size + line.length + 1 > limit && pages[pages.length - 1]!.length > 0) {
      pages.push([]);
      size = 0;
    }
    pages[pages.length - 1]!.push(line);
    size += line.length + 1;
  }
  return pages.map((page, i) => ({
    title: truncate(pages.length > 1 ? `${title} (${i + 1}/${pages.length})` : title, EMBED_LIMITS.title),
    description: page.join('\n').trim(),
    color: COLORS.blue,
  }));
}
