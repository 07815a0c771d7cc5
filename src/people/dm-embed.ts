import type { APIEmbed } from 'discord.js';
import { z } from 'zod';
import type { CardState } from '../cards/card-state.js';
import { fromIssue } from '../cards/issue-fields.js';
import { merged } from '../cards/card-step.js';
import { statusText } from '../cards/embed.js';
import { LimitedEmbedBuilder } from '../embed/builder.js';
import { COLORS, levelColor } from '../embed/colors.js';
import { field } from '../embed/fields.js';
import { escapeText, link, oneLine, prose } from '../embed/markdown.js';
import { truncate } from '../embed/text.js';
import { IssueSchema } from '../sentry/formatters/issue.js';
import { statusWords } from '../sentry/issue-status.js';
import { loose, optString, parseLoose } from '../sentry/loose-schema.js';
import { dmKindOf } from './dm-select.js';

const Payload = z.looseObject({
  actor: loose({ type: optString, name: optString }),
  data: loose({ issue: IssueSchema, comment: optString, resolution_type: optString }),
});

/** What a DM is drawn from: the stored event, the issue's card (a comment's payload names no issue), and where it came from. */
export interface DirectMessageInput {
  type: string;
  payload: unknown;
  /** The issue's card on one of the source's routes, if it has one: its state and its message's address. */
  card?: { state: CardState; url: string };
  /** The source's name, which the member's server knows it by. */
  sourceName: string;
}

/** Who did it, as Sentry's webhook names them (an integration by its name; Sentry itself as Sentry). */
const byWhom = (actor: { type?: string; name?: string } | undefined) => (actor?.name ? ` by ${oneLine(actor.name)}` : '');

/** The line that says what happened to the member's issue: the DM's point. */
function whatHappened(type: string, payload: unknown, state: Partial<CardState>): string {
  const { actor, data } = parseLoose(Payload, payload);
  switch (dmKindOf(type, payload)) {
    case 'assigned':
      return `📌 **Assigned to you**${byWhom(actor)}`;
    case 'regressed':
      return `🔁 **${state.substatus === 'escalating' ? 'Escalating' : 'Regressed'}**: unresolved again`;
    case 'resolved': {
      const words = statusWords('resolved', undefined, state.resolution) ?? 'resolved';
      return `✅ **${escapeText(words.charAt(0).toUpperCase() + words.slice(1))}**${byWhom(actor)}`;
    }
    case 'comments':
      return `💬 **${oneLine(actor?.name) ?? 'Someone'} commented**:\n${prose(truncate(data?.comment ?? '', 1000)) ?? ''}`;
    default:
      return escapeText(type);
  }
}

/**
 * A DM about an issue assigned to the member: the issue's compact embed (title linked to Sentry,
 * short id, project, status, level), what happened in one line, and a link to its card. Pure;
 * payload text escaped like every embed's.
 */
export function directMessageEmbed(input: DirectMessageInput): APIEmbed {
  const { data } = parseLoose(Payload, input.payload);
  const issue = data?.issue ? fromIssue(data.issue, data.resolution_type) : {};
  const state: Partial<CardState> = merged(input.card?.state ?? {}, issue);
  const status = statusText(state);
  const resolved = state.status === 'resolved';
  return new LimitedEmbedBuilder()
    .setAuthor({ name: [state.shortId ?? 'Sentry issue', state.project].filter(Boolean).join(' · ') })
    .setTitle(oneLine(state.title ?? state.shortId) ?? 'An issue assigned to you')
    .setURL(state.url)
    .setDescription(
      [whatHappened(input.type, input.payload, state), input.card ? link('Its card in the server', input.card.url) : undefined]
        .filter(Boolean)
        .join('\n'),
    )
    .setColor(resolved ? COLORS.green : levelColor(state.level))
    .addFields(field('Status', status), field('Level', state.level && escapeText(state.level)))
    .setFooter({ text: `${input.sourceName} · a direct message from Dispatch · /dispatch me notify to choose which` })
    .toJSON();
}
