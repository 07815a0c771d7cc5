import { ComponentType } from 'discord.js';
import type { MemberLink } from '../src/db/schema.js';
import { truncate } from '../src/embed/text.js';
import type { RouteId } from '../src/ids.js';
import type { Assignee } from '../src/sentry-api/client.js';
import { ARCHIVE_CHOICES, TRIAGE_ACTIONS } from '../src/triage/actions.js';
import { cardButtons, triageId, type ActionRow } from '../src/triage/components.js';

/** The menus a card's buttons open, to the clicker only: Assign… (members and teams) and Archive… (its choices). */

const MENU_OPTIONS = 25;

/** What the assign menu's first entry is for a member connected with their own Sentry identity: one choice, them. */
export const ASSIGN_TO_ME = 'me';

/** Who is choosing: a connected member (by their Sentry id), or Discord names to match with Sentry's members. */
export type Chooser = { link: MemberLink } | { names: string[] };

function ordered(people: Assignee[], chooser: Chooser): { options: { label: string; value: string }[]; left: number } {
  if ('link' in chooser) {
    // The connected member is "Assign to me", first; not listed again among the others.
    const others = people.filter((a) => a.actor !== `user:${chooser.link.sentryUserId}`);
    const room = MENU_OPTIONS - 2;
    return {
      options: [
        { label: truncate(`Assign to me (${chooser.link.sentryName})`, 100), value: ASSIGN_TO_ME },
        ...others.slice(0, room).map((a) => ({ label: truncate(a.name, 100), value: a.actor })),
      ],
      left: Math.max(0, others.length - room),
    };
  }
  const lower = chooser.names.map((n) => n.toLowerCase()).filter(Boolean);
  const isClicker = (a: Assignee) =>
    a.matches.some((m) => lower.includes(m.toLowerCase()) || lower.includes(m.toLowerCase().split('@')[0]!));
  const sorted = [...people.filter(isClicker), ...people.filter((a) => !isClicker(a))];
  const room = MENU_OPTIONS - 1;
  return {
    options: sorted
      .slice(0, room)
      .map((a, i) => ({ label: truncate(i === 0 && isClicker(a) ? `${a.name} (you)` : a.name, 100), value: a.actor })),
    left: Math.max(0, sorted.length - room),
  };
}

/** A card's link to Sentry under a menu, so that what the menu cannot list is one click away. */
function openInSentry(routeId: RouteId, issueId: string, url: string | undefined): ActionRow[] {
  if (!url) return [];
  return cardButtons(
    { key: `issue:${issueId}`, kind: 'issue', url, lastUpdate: { text: '', at: 0 }, history: [] },
    { routeId, connected: false },
  );
}

/** The assign menu: "Assign to me" first for a connected member (else the clicker first when their Discord name matches a Sentry member), then teams and members, 25 at most. */
export function assignMenu(routeId: RouteId, issueId: string, people: Assignee[], chooser: Chooser, url: string | undefined): ActionRow[] {
  const { options, left } = ordered(people, chooser);
  return [
    {
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.StringSelect,
          custom_id: triageId(routeId, issueId, 'assign-to'),
          placeholder: left > 0 ? `Assign to… (first ${options.length}; the rest in Sentry)` : 'Assign to…',
          options: [...options, { label: 'Nobody (unassign)', value: 'none' }],
        },
      ],
    },
    ...openInSentry(routeId, issueId, url),
  ];
}

/** Archive's choices, as Sentry's own Archive menu offers them (until escalating first: what Archive did before). */
export function archiveMenu(routeId: RouteId, issueId: string, url: string | undefined): ActionRow[] {
  return [
    {
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.StringSelect,
          custom_id: triageId(routeId, issueId, 'archive-to'),
          placeholder: 'Archive…',
          options: ARCHIVE_CHOICES.map((kind) => ({ label: TRIAGE_ACTIONS[kind].label, value: kind })),
        },
      ],
    },
    ...openInSentry(routeId, issueId, url),
  ];
}
