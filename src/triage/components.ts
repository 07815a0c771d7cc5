import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIComponentInMessageActionRow } from 'discord.js';
import type { CardState } from '../cards/state.js';
import { truncate } from '../embed/text.js';
import { webUrl } from '../embed/urls.js';
import { statusActionsFor, TRIAGE_ACTIONS, type TriageKind } from './actions.js';
import type { RouteId } from '../ids.js';

export type ActionRow = APIActionRowComponent<APIComponentInMessageActionRow>;

/** Discord: 5 buttons a row, 5 rows, 25 select options, 80-character button labels, 100-character select labels and custom ids. */
const ROW = 5;
const MAX_ROWS = 5;
const LABEL = 80;
const OPTION = 100;

/** `dispatch:triage:<route>:<issue>:<kind>`: numeric ids and a short kind, well within Discord's 100 characters, and no secret. */
export function triageId(routeId: RouteId, issueId: string, kind: TriageKind): string {
  return `dispatch:triage:${routeId}:${issueId}:${kind}`;
}

/** The Sentry issue id of a card (`issue:<id>`); incidents have none. */
export function issueIdOf(state: Pick<CardState, 'key' | 'kind'>): string | undefined {
  return state.kind === 'issue' ? state.key.slice('issue:'.length) : undefined;
}

const link = (label: string, url: string) => ({
  type: ComponentType.Button as const,
  style: ButtonStyle.Link as const,
  label: truncate(label, LABEL),
  url,
});

function rows(components: APIComponentInMessageActionRow[]): ActionRow[] {
  const out: ActionRow[] = [];
  for (let i = 0; i < components.length && out.length < MAX_ROWS; i += ROW) {
    out.push({ type: ComponentType.ActionRow, components: components.slice(i, i + ROW) });
  }
  return out;
}

/**
 * A card's buttons: with Sentry connected, the actions that fit the issue's status and Assign…,
 * and always Open in Sentry. Chosen from the state alone, so an edit always sends them right.
 */
export function cardButtons(state: CardState, options: { routeId: RouteId; connected: boolean }): ActionRow[] {
  const url = webUrl(state.url);
  const issueId = issueIdOf(state);
  const buttons: APIComponentInMessageActionRow[] = [];
  if (options.connected && issueId) {
    for (const kind of statusActionsFor(state.status)) {
      // Archive is a choice (how long, or until what): its button opens the menu of them.
      const archive = kind === 'archive';
      buttons.push({
        type: ComponentType.Button,
        style: kind === 'resolve' ? ButtonStyle.Success : ButtonStyle.Secondary,
        label: archive ? 'Archive…' : TRIAGE_ACTIONS[kind].label,
        custom_id: triageId(options.routeId, issueId, archive ? 'archive-menu' : kind),
      });
    }
    buttons.push({
      type: ComponentType.Button,
      style: ButtonStyle.Primary,
      label: 'Assign…',
      custom_id: triageId(options.routeId, issueId, 'assign'),
    });
  }
  if (url) buttons.push(link('Open in Sentry', url));
  return rows(buttons);
}

/**
 * A message several cards share has room for one set of components: with Sentry connected, a
 * menu of its issues (choosing one shows that issue's buttons, to the chooser only); without, a
 * link to each.
 */
export function sharedButtons(cards: readonly { routeId: RouteId; state: CardState }[], connected: boolean): ActionRow[] {
  const issues = cards.filter((c) => issueIdOf(c.state));
  if (connected && issues.length > 0) {
    return [
      {
        type: ComponentType.ActionRow,
        components: [
          {
            type: ComponentType.StringSelect,
            custom_id: 'dispatch:triage-pick',
            placeholder: 'Triage an issue…',
            options: issues.slice(0, 25).map(({ routeId, state }) => ({
              label: truncate([state.shortId, state.title].filter(Boolean).join(' · ') || state.key, OPTION),
              value: `${routeId}:${issueIdOf(state)}`,
            })),
          },
        ],
      },
    ];
  }
  return rows(
    cards.flatMap(({ state }) => {
      const url = webUrl(state.url);
      return url ? [link(`Open ${state.shortId ?? state.title ?? 'in Sentry'}`, url)] : [];
    }),
  );
}

/** A button label is plain text: the backslashes that keep an embed title from formatting would show. */
const unescaped = (text: string) => text.replace(/\\([\\*_~`|<>[\]()#.+-])/g, '$1');

/** Feed messages: a link to Sentry for each event that has one (the embed's own link). */
export function feedButtons(embeds: readonly { url?: string; title?: string }[]): ActionRow[] {
  const links = embeds.flatMap((e) => {
    const url = webUrl(e.url);
    return url ? [{ url, title: e.title }] : [];
  });
  if (links.length === 1) return rows([link('Open in Sentry', links[0]!.url)]);
  return rows(links.map(({ url, title }) => link(`Open: ${title ? unescaped(title) : 'in Sentry'}`, url)));
}
