import {
  ComponentType,
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type GuildMember,
  type StringSelectMenuInteraction,
} from 'discord.js';
import { issueCardKey, type CardState } from '../src/cards/state.js';
import { findCardByKey } from '../src/db/cards.js';
import { recordCardEvent } from '../src/cards/card-events.js';
import { routesByIds } from '../src/db/routes.js';
import type { Route, Source } from '../src/db/schema.js';
import { findSourceById, setSentryProblem } from '../src/db/sources.js';
import { describeSentryProblem, outcomeUnknown, SentryApi, SentryApiError, type Assignee } from '../src/sentry-api/client.js';
import { sentryApiOf, sentryOrgOf } from '../src/sentry-api/for-source.js';
import { isStatusAction, TRIAGE_ACTIONS, TRIAGE_EVENT_TYPE, type StatusAction, type TriagePayload } from '../src/triage/actions.js';
import { cardButtons, triageId, type ActionRow } from '../src/triage/components.js';
import { escapeText, oneLine } from '../src/embed/markdown.js';
import { truncate } from '../src/embed/text.js';
import { UserError } from '../src/user-error.js';
import type { CommandContext, ComponentHandler } from './types.js';
import { guildOf, parseRouteId, type GuildId, type RouteId } from '../src/ids.js';

type Clicked = ButtonInteraction<'cached'> | StringSelectMenuInteraction<'cached'>;

const ISSUE_ID = /^\d{1,20}$/;
const MENU_OPTIONS = 25;

/** The route, its source and the card a triage component points at, all within the clicker's server. */
async function target(ctx: CommandContext, guildId: GuildId, routeId: string | undefined, issueId: string | undefined) {
  // The route id comes back from the component's custom id: it is looked up only within the clicker's server.
  const id = parseRouteId(routeId);
  const route = id === undefined ? undefined : (await routesByIds(ctx.db, [id])).get(id);
  const source = route ? await findSourceById(ctx.db, guildId, route.sourceId) : undefined;
  if (!route || !source || !issueId || !ISSUE_ID.test(issueId)) throw new UserError('This card is no longer managed by Dispatch.');
  const card = await findCardByKey(ctx.db, route.id, issueCardKey(issueId));
  const state = card ? (JSON.parse(card.state) as CardState) : undefined;
  return { route, source, issueId, state };
}

/** Members with Manage Server, or the route's triage role; others are told which role would do. */
function assertMayTriage(member: GuildMember, permissions: Clicked['memberPermissions'], route: Route): void {
  if (permissions.has(PermissionFlagsBits.ManageGuild)) return;
  if (route.triageRoleId && member.roles.cache.has(route.triageRoleId)) return;
  throw new UserError(
    route.triageRoleId
      ? `Only members with <@&${route.triageRoleId}> or Manage Server can triage issues here.`
      : 'Only members with Manage Server can triage issues here (a route can allow a role too: `/dispatch route edit triage-role:`).',
  );
}

function apiOf(source: Source, ctx: CommandContext): SentryApi {
  const api = sentryApiOf(source, ctx.secrets, ctx.sentryUrls);
  if (!api) {
    throw new UserError(
      `**${source.name}** is not connected to Sentry's API any more. An admin can connect it with \`/dispatch source connect\`.`,
    );
  }
  return api;
}

function orgOf(source: Source, state: CardState | undefined): string {
  const org = sentryOrgOf(source, state?.org);
  if (!org) throw new UserError("Dispatch does not know this issue's Sentry organization yet: set it with `/dispatch source connect`.");
  return org;
}

/** Sentry refused the token: `info` says so until the source is connected again. */
async function noteTokenProblem(ctx: CommandContext, source: Source, error: SentryApiError): Promise<void> {
  const { kind } = error.problem;
  if (kind === 'revoked' || kind === 'forbidden') await setSentryProblem(ctx.db, source.id, describeSentryProblem(error.problem));
}

/**
 * The change is stored as an event of its card's route and delivered like Sentry's own: the card
 * is edited (at once: a triage event skips the coalescing second) and its thread gets the line,
 * in order with whatever Sentry sends about the issue. False when the route was removed meanwhile.
 */
async function recordTriage(
  ctx: CommandContext,
  route: Route,
  issueId: string,
  triage: TriagePayload['data']['triage'],
  issue: Record<string, unknown>,
): Promise<boolean> {
  const payload: TriagePayload = { action: 'triage', data: { triage, issue } };
  if (!(await recordCardEvent(ctx.db, cardOf(route, issueId), TRIAGE_EVENT_TYPE, payload, ctx.now()))) return false;
  ctx.wakeDelivery();
  return true;
}

const cardOf = (route: Route, issueId: string) => ({
  routeId: route.id,
  sourceId: route.sourceId,
  channelId: route.channelId,
  cardKey: issueCardKey(issueId),
});

/** The issue's short id in bold, for a reply: payload text (anyone can name an issue), so escaped. */
const shortIdOf = (state: CardState | undefined, issueId: string) => `**${escapeText(state?.shortId ?? issueId)}**`;

const displayName = (interaction: Clicked) => interaction.member.displayName.replace(/[^\p{L}\p{N} _.-]/gu, '').slice(0, 64) || 'someone';

/** The assign menu: the clicker first when their Discord name matches a Sentry member, then teams and members, 25 at most. */
function assignMenu(routeId: RouteId, issueId: string, people: Assignee[], clicker: string[], url: string | undefined): ActionRow[] {
  const lower = clicker.map((n) => n.toLowerCase()).filter(Boolean);
  const isClicker = (a: Assignee) =>
    a.matches.some((m) => lower.includes(m.toLowerCase()) || lower.includes(m.toLowerCase().split('@')[0]!));
  const ordered = [...people.filter(isClicker), ...people.filter((a) => !isClicker(a))];
  const options = ordered.slice(0, MENU_OPTIONS - 1).map((a, i) => ({
    label: truncate(i === 0 && isClicker(a) ? `${a.name} (you)` : a.name, 100),
    value: a.actor,
  }));
  const rows: ActionRow[] = [
    {
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.StringSelect,
          custom_id: triageId(routeId, issueId, 'assign-to'),
          placeholder: ordered.length > MENU_OPTIONS - 1 ? `Assign to… (first ${MENU_OPTIONS - 1}; the rest in Sentry)` : 'Assign to…',
          options: [...options, { label: 'Nobody (unassign)', value: 'none' }],
        },
      ],
    },
  ];
  return url
    ? [
        ...rows,
        ...cardButtons(
          { key: `issue:${issueId}`, kind: 'issue', url, lastUpdate: { text: '', at: 0 }, history: [] },
          { routeId, connected: false },
        ),
      ]
    : rows;
}

/**
 * A triage button or menu on a card: Resolve, Resolve in next release, Archive, Unresolve, Mark
 * ongoing, Assign… The click is acknowledged before anything (Discord allows 3 s), Sentry is called
 * with a deadline, and the card shows the result as soon as Sentry has it. The answer goes to the
 * clicker only (the router never edits a card with it): on the card nothing, the card shows it.
 */
export const triageHandler: ComponentHandler = {
  action: 'triage',
  anyMember: true,
  // Assign… answers with a menu of its own; every other choice changes the issue, and so the card.
  acknowledge: ([, , kind]) => (kind === 'assign' ? 'reply' : 'update'),
  async handle(interaction, [routeId, issueId, kind], ctx) {
    if (!interaction.isButton() && !interaction.isStringSelectMenu()) throw new UserError('This button is not valid any more.');
    const { route, source, state } = await target(ctx, guildOf(interaction), routeId, issueId);
    assertMayTriage(interaction.member, interaction.memberPermissions, route);
    const api = apiOf(source, ctx);
    const org = orgOf(source, state);
    const about = {
      guild_id: source.guildId,
      source_id: source.id,
      route_id: route.id,
      issue_id: issueId,
      user_id: interaction.user.id,
      action: kind,
    };

    if (kind === 'assign') {
      try {
        const people = await api.assignees(org, state?.project);
        const names = [interaction.member.displayName, interaction.user.username, interaction.user.globalName ?? ''];
        return {
          content: `Assign ${shortIdOf(state, issueId!)} to…`,
          components: assignMenu(route.id, issueId!, people, names, state?.url),
        };
      } catch (error) {
        if (!(error instanceof SentryApiError)) throw error;
        await noteTokenProblem(ctx, source, error);
        return { content: `❌ ${describeSentryProblem(error.problem)}` };
      }
    }

    let change: Record<string, unknown>;
    let triage: TriagePayload['data']['triage'];
    if (kind === 'assign-to' && interaction.isStringSelectMenu()) {
      const actor = interaction.values[0] ?? '';
      if (actor !== 'none' && !/^(user|team):\d{1,20}$/.test(actor)) throw new UserError('That choice is not valid any more.');
      const label = interaction.component.options.find((o) => o.value === actor)?.label.replace(/ \(you\)$/, '');
      change = { assignedTo: actor === 'none' ? '' : actor };
      triage = {
        kind: 'assign-to',
        by: displayName(interaction),
        ...(actor !== 'none' ? { actor, ...(label ? { assignee: label } : {}) } : {}),
      };
    } else if (kind && isStatusAction(kind)) {
      change = { ...TRIAGE_ACTIONS[kind as StatusAction].change };
      triage = { kind: kind as StatusAction, by: displayName(interaction) };
    } else {
      throw new UserError('This button is not valid any more.');
    }

    try {
      const issue = await api.updateIssue(org, issueId!, change);
      if (!(await recordTriage(ctx, route, issueId!, triage, issue)))
        throw new UserError('Done in Sentry, but this card is no longer managed by Dispatch: its route was removed meanwhile.');
    } catch (error) {
      if (!(error instanceof SentryApiError)) throw error;
      ctx.logger.warn({ ...about, problem: error.problem.kind }, 'triage action refused by Sentry');
      await noteTokenProblem(ctx, source, error);
      const unknown = outcomeUnknown(error.problem);
      if (unknown) {
        // Sentry may still make the change: the card says what was asked and takes Sentry's webhook
        // for it as the member's own change, not as news; the issue is read back shortly and the
        // card follows what Sentry has.
        await recordTriage(ctx, route, issueId!, { ...triage, unconfirmed: true }, {});
        ctx.cardChecks.checkSoon(cardOf(route, issueId!), api, org);
      }
      return { content: `${unknown ? '⏳' : '❌'} ${describeSentryProblem(error.problem)}`, components: [] };
    }
    ctx.logger.info(about, 'triage action done');
    // On a card, the card shows it; on the clicker's own menu or buttons, the answer replaces them.
    if (!interaction.message.flags.has(MessageFlags.Ephemeral)) return undefined;
    const done =
      kind === 'assign-to'
        ? triage.assignee
          ? `assigned to ${escapeText(triage.assignee)}`
          : 'unassigned'
        : TRIAGE_ACTIONS[kind as StatusAction].done.toLowerCase();
    return { content: `✅ ${shortIdOf(state, issueId!)} ${done}.`, components: [] };
  },
};

/** The menu on a message several cards share: the chosen issue's buttons, to the chooser only. */
export const triagePickHandler: ComponentHandler = {
  action: 'triage-pick',
  anyMember: true,
  // The shared message stays as it is: the chosen issue's buttons come in a new ephemeral message.
  acknowledge: 'reply',
  async handle(interaction, _args, ctx) {
    if (!interaction.isStringSelectMenu()) throw new UserError('This menu is not valid any more.');
    const [routeId, issueId] = (interaction.values[0] ?? '').split(':');
    const { route, source, state } = await target(ctx, guildOf(interaction), routeId, issueId);
    assertMayTriage(interaction.member, interaction.memberPermissions, route);
    if (!state) throw new UserError('This card is no longer managed by Dispatch.');
    return {
      content: `${shortIdOf(state, issueId!)} · ${oneLine(truncate(state.title ?? '', 200)) ?? ''}`,
      components: cardButtons(state, { routeId: route.id, connected: source.sentryToken !== null }),
    };
  },
};
