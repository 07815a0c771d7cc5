import { MessageFlags, PermissionFlagsBits, type ButtonInteraction, type GuildMember, type StringSelectMenuInteraction } from 'discord.js';
import { issueCardKey, type CardState } from '../src/cards/state.js';
import { findCardByKey, orgOfCards } from '../src/db/cards.js';
import { channelRouteById } from '../src/db/routes.js';
import type { Route, Source } from '../src/db/schema.js';
import { findSourceById } from '../src/db/sources.js';
import { actingFor } from '../src/people/acting.js';
import { SentryApiError, type Assignee, type SentryApi } from '../src/sentry-api/client.js';
import { sentryApiOf, sentryOrgOf } from '../src/sentry-api/for-source.js';
import { ARCHIVE_CHOICES, isStatusAction, TRIAGE_ACTIONS, type StatusAction } from '../src/triage/actions.js';
import { carryOut, problemWords, type Change, type ClickOutcome } from '../src/triage/carry-out.js';
import { cardButtons } from '../src/triage/components.js';
import { escapeText, oneLine } from '../src/embed/markdown.js';
import { truncate } from '../src/embed/text.js';
import { UserError } from '../src/user-error.js';
import { withNotices } from './notices.js';
import { archiveMenu, assignMenu } from './triage-menus.js';
import type { Answer, CommandContext, ComponentHandler } from './types.js';
import { guildOf, parseRouteId, userOf, type GuildId } from '../src/ids.js';

type Clicked = ButtonInteraction<'cached'> | StringSelectMenuInteraction<'cached'>;

const ISSUE_ID = /^\d{1,20}$/;

/** The route, its source and the card a triage component points at, all within the clicker's server. */
export async function triageTarget(ctx: CommandContext, guildId: GuildId, routeId: string | undefined, issueId: string | undefined) {
  // The route id comes back from the component's custom id: it is looked up only within the clicker's server.
  const id = parseRouteId(routeId);
  const route = id === undefined ? undefined : await channelRouteById(ctx.db, id);
  const source = route ? await findSourceById(ctx.db, guildId, route.sourceId) : undefined;
  if (!route || !source || !issueId || !ISSUE_ID.test(issueId)) throw new UserError('This card is no longer managed by Dispatch.');
  const card = await findCardByKey(ctx.db, route.id, issueCardKey(issueId));
  const state = card ? (JSON.parse(card.state) as CardState) : undefined;
  return { route, source, issueId, state };
}

/** Members with Manage Server, or the route's triage role; others are told which role would do. */
export function assertMayTriage(member: GuildMember, permissions: Clicked['memberPermissions'], route: Route): void {
  if (permissions.has(PermissionFlagsBits.ManageGuild)) return;
  if (route.triageRoleId && member.roles.cache.has(route.triageRoleId)) return;
  throw new UserError(
    route.triageRoleId
      ? `Only members with <@&${route.triageRoleId}> or Manage Server can triage issues here.`
      : 'Only members with Manage Server can triage issues here (a route can allow a role too: `/dispatch route edit triage-role:`).',
  );
}

export function integrationOf(source: Source, ctx: CommandContext): SentryApi {
  const api = sentryApiOf(source, ctx.secrets, ctx.sentryUrls);
  if (!api) {
    throw new UserError(
      `**${source.name}** is not connected to Sentry's API any more. An admin can connect it with \`/dispatch source connect\`.`,
    );
  }
  return api;
}

/** The organization an issue's calls go to: its card's, the source's, or the one its other cards learned. */
export async function orgOf(ctx: CommandContext, source: Source, state: CardState | undefined): Promise<string> {
  const org = sentryOrgOf(source, state?.org) ?? (await orgOfCards(ctx.db, source.id));
  if (!org) throw new UserError("Dispatch does not know this issue's Sentry organization yet: set it with `/dispatch source connect`.");
  return org;
}

/** Payload text (anyone can name an issue, or an assignee) in a reply: escaped. */
const shown = (text: string) => escapeText(text);

const displayName = (interaction: Clicked) => interaction.member.displayName.replace(/[^\p{L}\p{N} _.-]/gu, '').slice(0, 64) || 'someone';

/** What the member chose: a button's status action, Archive's choice, or an assignee from the menu. */
function changeOf(interaction: Clicked, kind: string | undefined): Change {
  if (kind === 'assign-to' && interaction.isStringSelectMenu()) {
    const actor = interaction.values[0] ?? '';
    const label = interaction.component.options.find((o) => o.value === actor)?.label.replace(/ \(you\)$/, '');
    return { kind: 'assign-to', actor, ...(label ? { label } : {}) };
  }
  const chosen = kind === 'archive-to' && interaction.isStringSelectMenu() ? interaction.values[0] : kind;
  const archive = kind === 'archive-to' && !(ARCHIVE_CHOICES as readonly string[]).includes(chosen ?? '');
  if (!chosen || !isStatusAction(chosen) || archive) throw new UserError('This button is not valid any more.');
  return { kind: chosen };
}

/** What the clicker's own menu becomes once the change is made (on a card, the card shows it). */
function doneWords(outcome: Extract<ClickOutcome, { done: true }>, shortId: string): string {
  const { triage } = outcome;
  const done =
    triage.kind === 'assign-to'
      ? triage.assignee
        ? `assigned to ${shown(triage.assignee)}`
        : 'unassigned'
      : TRIAGE_ACTIONS[triage.kind as StatusAction].done.toLowerCase();
  return `✅ **${shown(shortId)}** ${done}${triage.as ? `, as ${shown(triage.as)} in Sentry` : ''}.`;
}

/** Assign…: the menu of Sentry's members and teams, read as the clicker (their own token when connected). */
async function assignAnswer(ctx: CommandContext, clicked: Clicked, target: Awaited<ReturnType<typeof triageTarget>>, org: string) {
  const { route, source, issueId, state } = target;
  const acting = await actingFor(ctx, { guildId: guildOf(clicked), userId: userOf(clicked) }, { source, org }, integrationOf(source, ctx));
  let people: Assignee[] = [];
  let note = '';
  try {
    people = await acting.api.assignees(org, state?.project);
  } catch (error) {
    if (!(error instanceof SentryApiError)) throw error;
    // A member's token without member:read still assigns them: the menu offers "Assign to me" alone.
    if (!(acting.link && error.problem.kind === 'forbidden')) return { content: `❌ ${await problemWords(ctx, target, acting, error)}` };
    note = '\n(Your Sentry token lacks `member:read`, so only you are listed.)';
  }
  const chooser = acting.link
    ? { link: acting.link }
    : { names: [clicked.member.displayName, clicked.user.username, clicked.user.globalName ?? ''] };
  return {
    content: `Assign **${shown(state?.shortId ?? issueId)}** to…${note}`,
    components: assignMenu(route.id, issueId, people, chooser, state?.url),
  };
}

/**
 * A triage button or menu on a card: Resolve, Resolve in next release, Archive… (and its choice),
 * Unresolve, Mark ongoing, Assign… (and its choice). The click is acknowledged before anything
 * (Discord allows 3 s), Sentry is called with a deadline, as the member when they connected their
 * own identity (`/dispatch me connect`), and the card shows the result as soon as Sentry has it.
 * The answer goes to the clicker only (the router never edits a card with it).
 */
export const triageHandler: ComponentHandler = {
  action: 'triage',
  anyMember: true,
  // Assign… and Archive… answer with a menu of their own; every choice changes the issue, and so the card.
  acknowledge: ([, , kind]) => (kind === 'assign' || kind === 'archive-menu' ? 'reply' : 'update'),
  async handle(interaction, [routeId, issueId, kind], ctx) {
    if (!interaction.isButton() && !interaction.isStringSelectMenu()) throw new UserError('This button is not valid any more.');
    const member = { guildId: guildOf(interaction), userId: userOf(interaction) };
    const target = await triageTarget(ctx, member.guildId, routeId, issueId);
    assertMayTriage(interaction.member, interaction.memberPermissions, target.route);
    const integration = integrationOf(target.source, ctx);
    const org = await orgOf(ctx, target.source, target.state);
    const shortId = target.state?.shortId ?? target.issueId;
    if (kind === 'archive-menu')
      return withNotices(ctx, member, {
        content: `Archive **${shown(shortId)}**…`,
        components: archiveMenu(target.route.id, target.issueId, target.state?.url),
      });
    if (kind === 'assign') return withNotices(ctx, member, await assignAnswer(ctx, interaction, target, org));

    const outcome = await carryOut(ctx, {
      ...target,
      org,
      integration,
      // A click on a card, or on buttons of a card; not on an issue `/dispatch issue` showed without one.
      onCard: target.state !== undefined || !interaction.message.flags.has(MessageFlags.Ephemeral),
      member: { ...member, name: displayName(interaction) },
      change: changeOf(interaction, kind),
    });
    if (!outcome.done) return withNotices(ctx, member, { content: `${outcome.unknown ? '⏳' : '❌'} ${outcome.words}`, components: [] });
    // On a card, the card shows it; on the clicker's own menu or buttons, the answer replaces them.
    // (An issue shown by `/dispatch issue` may have no card: Sentry's answer names it.)
    const named = typeof outcome.issue.shortId === 'string' ? outcome.issue.shortId : shortId;
    const answer: Answer | undefined = interaction.message.flags.has(MessageFlags.Ephemeral)
      ? { content: doneWords(outcome, target.state?.shortId ?? named), components: [] }
      : undefined;
    return withNotices(ctx, member, answer);
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
    const { route, source, state } = await triageTarget(ctx, guildOf(interaction), routeId, issueId);
    assertMayTriage(interaction.member, interaction.memberPermissions, route);
    if (!state) throw new UserError('This card is no longer managed by Dispatch.');
    return {
      content: `**${shown(state.shortId ?? issueId!)}** · ${oneLine(truncate(state.title ?? '', 200)) ?? ''}`,
      components: cardButtons(state, { routeId: route.id, connected: source.sentryToken !== null }),
    };
  },
};
