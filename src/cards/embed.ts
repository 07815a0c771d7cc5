import type { APIEmbed } from 'discord.js';
import { LimitedEmbedBuilder } from '../embed/builder.js';
import { COLORS, levelColor } from '../embed/colors.js';
import { field } from '../embed/fields.js';
import { CONTENT_LIMIT } from '../embed/limits.js';
import { escapeText, inlineCode, link, oneLine, prose } from '../embed/markdown.js';
import { truncate } from '../embed/text.js';
import { discordTimestamp } from '../embed/time.js';
import { pullRequestText, seerProgress } from '../sentry/formatters/seer.js';
import { windowText } from '../sentry/formatters/metric-alert.js';
import { statusWords } from '../sentry/issue-status.js';
import { alertActionFields } from '../render/alert-action-fields.js';
import type { CardState } from './card-state.js';
import { archiveConditionText } from './archive.js';

/** How a card is drawn: from its state alone, so an edit always sends the whole current card. */
export interface CardLook {
  /** Its history is shown on the card itself (it shares its message, or threads are not available). */
  history: boolean;
  /** A thread to link to: its history's thread when the card moved down from the message the thread hangs under. */
  threadLink?: string | null;
}

const at = (ms: number, style = 'R') => discordTimestamp(ms, style)!;

/** A card whose first event did not name its issue (a comment, a Seer run): its Sentry id until one does. */
const untitled = (state: CardState) =>
  `${state.kind === 'incident' ? 'Metric alert incident' : 'Sentry issue'} ${state.key.replace(/^\w+:/, '')}`;

function color(state: CardState): number {
  if (state.kind === 'incident') {
    const status = state.incident?.status;
    return status === 'resolved' ? COLORS.green : status === 'warning' ? COLORS.orange : COLORS.red;
  }
  if (state.status === 'resolved') return COLORS.green;
  if (state.status === 'ignored' || state.status === 'archived') return COLORS.gray;
  return levelColor(state.level);
}

/** Where the issue stands, in words; an archive until a condition says which ("archived for 24 h, until 14:05"). */
export function statusText(state: Pick<CardState, 'status' | 'substatus' | 'resolution' | 'archive'>): string | undefined {
  const condition = archiveConditionText(state);
  if (condition) return `archived ${condition}`;
  const status = statusWords(state.status, state.substatus, state.resolution);
  return status && escapeText(status);
}

function issueFields(state: CardState) {
  return [
    field('Status', statusText(state)),
    field('Level', state.level && escapeText(state.level)),
    field('Priority', state.priority && escapeText(state.priority)),
    field('Assigned to', state.assignee ? oneLine(state.assignee) : state.kind === 'issue' ? 'nobody' : undefined),
    field('Events', state.count),
    field('Users', state.userCount),
    field('First seen', discordTimestamp(state.firstSeen)),
    field('Last seen', discordTimestamp(state.lastSeen)),
  ];
}

function incidentFields(state: CardState) {
  const incident = state.incident;
  const projects = incident?.projects ?? (state.project ? [state.project] : []);
  return [
    field('Status', incident?.status && escapeText(incident.status)),
    field('Alert rule', oneLine(incident?.rule)),
    field('Metric', inlineCode(incident?.metric)),
    field('Time window', windowText(incident?.window)),
    field('Threshold', incident?.threshold),
    field('Started', discordTimestamp(incident?.startedAt)),
    field(projects.length > 1 ? 'Projects' : 'Project', projects.map((p) => oneLine(p)).join(', ')),
  ];
}

/** A line of Seer's output: its kind in bold, the text as Seer wrote it. */
const seerLine = (label: string, text: string | undefined, where = '') =>
  text ? `**${label}**${where}: ${oneLine(truncate(text, 300))}` : undefined;

/** Where Seer's run stands, and the latest of what each completed stage produced. */
function seerText(seer: NonNullable<CardState['seer']>): string {
  const prs = seer.prs?.map(pullRequestText) ?? seer.links.map((url, i) => link(`pull request ${i + 1}`, url)).filter(Boolean);
  return [
    `${seer.stage > 0 ? `${seerProgress(seer.stage)} stage ${seer.stage} of ${seer.of} · ` : ''}${escapeText(seer.label)}`,
    seerLine('Root cause', seer.rootCause, seer.repo ? ` in ${inlineCode(seer.repo)}` : ''),
    seerLine('Solution', seer.solution),
    seerLine('Fix', seer.fix),
    prs.length > 0 ? `**${prs.length === 1 ? 'Pull request' : 'Pull requests'}**: ${prs.join(' · ')}` : undefined,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The latest error event: what it raised, and where, when that is not what the card already says. */
function latestEventText(state: CardState): string | undefined {
  const event = state.latestEvent;
  if (!event) return undefined;
  const where = event.culprit && event.culprit !== state.culprit ? inlineCode(event.culprit) : undefined;
  const context = [
    where,
    event.environment && oneLine(event.environment),
    event.release && `release ${inlineCode(event.release)}`,
    event.platform && oneLine(event.platform),
  ].filter(Boolean);
  return [oneLine(truncate(event.title ?? 'an event', 200)), context.join(' · ')].filter(Boolean).join('\n');
}

function commentText(comment: NonNullable<CardState['comment']>): string {
  const author = oneLine(comment.author);
  if (!comment.deleted) return `${author}: ${prose(truncate(comment.text, 300))}`;
  const text = oneLine(truncate(comment.text, 200));
  return text ? `${author} deleted a comment: ~~${text}~~` : `${author} deleted a comment`;
}

/** The card's embed: where the issue stands now, and what happened last. */
export function cardEmbed(state: CardState, look: CardLook): APIEmbed {
  const lastUpdate = `🕑 ${escapeText(state.lastUpdate.text)} · ${at(state.lastUpdate.at)}`;
  const builder = new LimitedEmbedBuilder()
    .setAuthor({
      name: [state.shortId ?? (state.kind === 'incident' ? 'Metric alert' : 'Issue'), state.project].filter(Boolean).join(' · '),
    })
    .setTitle(oneLine(state.title ?? state.shortId) ?? untitled(state))
    .setURL(state.url)
    .setDescription(
      [state.kind === 'incident' ? prose(truncate(state.incident?.description ?? '', 600)) : inlineCode(state.culprit), lastUpdate]
        .filter(Boolean)
        .join('\n'),
    )
    .setColor(color(state))
    .addFields(
      ...(state.kind === 'incident' ? incidentFields(state) : issueFields(state)),
      field(
        'Last alert',
        state.alert &&
          `${oneLine(state.alert.rule)} · ${at(state.alert.at)}${state.alert.times > 1 ? ` · ${state.alert.times} times` : ''}`,
        false,
      ),
      ...alertActionFields((state.kind === 'incident' ? state.incident : state.alert) ?? {}),
      field('Latest event', latestEventText(state), false),
      field(
        'Last activity',
        state.activity && [escapeText(state.activity.label), prose(truncate(state.activity.summary ?? '', 300))].filter(Boolean).join(': '),
        false,
      ),
      field('Seer', state.seer && seerText(state.seer), false),
      field('Last comment', state.comment && commentText(state.comment), false),
      field(
        'History',
        look.history
          ? state.history
              .slice(-5)
              .map((h) => `${at(h.at, 't')} ${escapeText(h.text)}`)
              .join('\n')
          : undefined,
        false,
      ),
      field('Thread', look.threadLink ? `<#${look.threadLink}>` : undefined),
    )
    .setFooter({ text: ['live card', state.project].filter(Boolean).join(' · ') })
    .setTimestamp(state.lastUpdate.at);
  return builder.toJSON();
}

/** What an old card becomes when the card moves down: one line pointing at the new one. */
export function pointerContent(state: CardState, newMessageUrl: string): string {
  const name = [state.shortId, state.title].filter(Boolean).join(' ');
  return truncate(`↓ ${escapeText(name)}: this card moved down, to ${newMessageUrl}`, CONTENT_LIMIT);
}

/** A message in a card's thread: a line per event (time and what happened), escaped. */
export function threadLines(lines: readonly { text: string; at: number }[]): string {
  return truncate(lines.map((l) => `${at(l.at, 't')} ${escapeText(l.text)}`).join('\n'), CONTENT_LIMIT);
}

/** The thread's name: Discord allows 1 to 100 characters. */
export function threadName(state: CardState): string {
  const name = [state.shortId, state.title].filter(Boolean).join(' · ') || untitled(state);
  return truncate(name.replace(/\s+/g, ' '), 100);
}
