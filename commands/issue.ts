import {
  ApplicationCommandType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  type AutocompleteInteraction,
  type GuildMember,
  type PermissionsBitField,
  type SlashCommandSubcommandBuilder,
} from 'discord.js';
import { FOUND_EVENT_TYPE, type FoundPayload } from '../src/cards/fold-found.js';
import { recordCardEvent } from '../src/cards/card-events.js';
import type { CardState } from '../src/cards/card-state.js';
import { merged } from '../src/cards/card-step.js';
import { cardEmbed } from '../src/cards/embed.js';
import { fromIssue } from '../src/cards/issue-fields.js';
import { newestServerCards } from '../src/db/cards.js';
import { routesOf, routesOfSources } from '../src/db/routes.js';
import type { Route, Source } from '../src/db/schema.js';
import { listSources } from '../src/db/sources.js';
import { truncate } from '../src/embed/text.js';
import { escapeText } from '../src/embed/markdown.js';
import { guildOf, userOf } from '../src/ids.js';
import { selectRoutes } from '../src/routing/select-routes.js';
import { eventFacts } from '../src/sentry/facts.js';
import { IssueSchema } from '../src/sentry/formatters/issue.js';
import { parseLoose } from '../src/sentry/loose-schema.js';
import { cardOf } from '../src/triage/carry-out.js';
import { findIssue, type FoundIssue } from '../src/triage/find-issue.js';
import { firstIssueLink, parseIssueRef, type IssueRef } from '../src/triage/issue-ref.js';
import { cardButtons } from '../src/triage/components.js';
import { UserError } from '../src/user-error.js';
import { withNotices } from './notices.js';
import type { Answer, CommandContext, CommandInvocation, MessageCommand, MessageInvocation } from './types.js';

/** `/dispatch issue find:<…> [post]`: any issue on demand (Manage Server or a triage role of its source's routes). */
export function issueSubcommand(sub: SlashCommandSubcommandBuilder): SlashCommandSubcommandBuilder {
  return sub
    .setName('issue')
    .setDescription('Show a Sentry issue as its card, to you (post:true posts it as a live card)')
    .addStringOption((o) =>
      o
        .setName('find')
        .setDescription('Its short id (BACKEND-4F), number or Sentry URL')
        .setRequired(true)
        .setAutocomplete(true)
        .setMaxLength(300),
    )
    .addBooleanOption((o) => o.setName('post').setDescription('Post it as a live card of the route that takes it'));
}

/**
 * Any Sentry issue on demand: `/dispatch issue find` (a short id, a number or a Sentry URL) and
 * the message command "Show Sentry issue" (the first Sentry issue link in a message: Discord hands
 * a message command its target message, so no Message Content intent). The issue is read from
 * Sentry through its source's token and shown as its card, to the member only, with its buttons;
 * `post:true` posts it as a live card of the route that would take it. Who may: members with
 * Manage Server, or a triage role of one of the source's routes (as for the buttons).
 */

type Asker = Pick<CommandInvocation | MessageInvocation, 'guildId' | 'user' | 'member' | 'memberPermissions'>;

/** How many suggestions autocomplete offers, out of the server's newest cards it reads. */
const SUGGESTIONS = 25;
const CARDS_READ = 250;

const mayManage = (permissions: Readonly<PermissionsBitField>) => permissions.has(PermissionFlagsBits.ManageGuild);
const hasRole = (member: GuildMember, roleId: string | null) => roleId !== null && member.roles.cache.has(roleId);

/**
 * The sources whose issues the member may look up (Manage Server: all; else those with a route
 * whose triage role they have), decided before anything is asked of Sentry; none is their error.
 */
async function sourcesMaySee(ctx: CommandContext, asker: Asker): Promise<(source: Source) => boolean> {
  if (mayManage(asker.memberPermissions)) return () => true;
  const sources = await listSources(ctx.db, guildOf(asker));
  const routes = await routesOfSources(
    ctx.db,
    sources.map((s) => s.id),
  );
  const allowed = new Set(sources.filter((s) => routes.get(s.id)?.some((r) => hasRole(asker.member, r.triageRoleId))).map((s) => s.id));
  if (allowed.size === 0)
    throw new UserError('Only members with Manage Server or a triage role of a source’s routes can look its issues up.');
  return (source) => allowed.has(source.id);
}

/** Members with Manage Server, or a triage role of one of the issue's source's routes. */
function assertMaySee(asker: Asker, routes: readonly Route[], sourceName: string): void {
  if (mayManage(asker.memberPermissions) || routes.some((r) => hasRole(asker.member, r.triageRoleId))) return;
  throw mayNotSee(sourceName);
}

const mayNotSee = (sourceName: string) =>
  new UserError(`Only members with Manage Server or a triage role of **${sourceName}**’s routes can look its issues up.`);

/** The card route of the source that would take the issue, as if Sentry had just sent it. */
function routeTaking(routes: readonly Route[], issue: Record<string, unknown>): Route | undefined {
  const cardRoutes = routes.filter((r) => r.layout === 'card');
  return selectRoutes(cardRoutes, 'issue.created', eventFacts('issue.created', { data: { issue } })).through[0];
}

/** `post:true`: the issue as a live card on its route, or why not. */
async function post(ctx: CommandContext, asker: Asker, found: FoundIssue, routes: readonly Route[]): Promise<string> {
  if (!routes.some((r) => r.layout === 'card'))
    return `**${found.source.name}** has no card route to post it on (its routes are feeds): \`/dispatch route add … layout:card\` makes one.`;
  const route = routeTaking(routes, found.issue);
  if (!route) return `No card route of **${found.source.name}** takes this issue: their filters keep it out (\`/dispatch route list\`).`;
  if (!mayManage(asker.memberPermissions) && !hasRole(asker.member, route.triageRoleId))
    return `Only members with Manage Server${route.triageRoleId ? ` or <@&${route.triageRoleId}>` : ''} can post a card in <#${route.channelId}>.`;
  if (found.card?.routeId === route.id)
    return `It already has a live card there: https://discord.com/channels/${found.source.guildId}/${found.card.channelId}/${found.card.messageId}`;
  const by = asker.member.displayName.replace(/[^\p{L}\p{N} _.-]/gu, '').slice(0, 64) || 'someone';
  const payload: FoundPayload = { action: 'found', data: { issue: found.issue, by } };
  if (!(await recordCardEvent(ctx.db, cardOf(route, found.issueId), FOUND_EVENT_TYPE, payload, ctx.now())))
    return 'Its route was removed meanwhile: nothing was posted.';
  ctx.wakeDelivery();
  return `📌 Posted as a live card in <#${route.channelId}> (route **${route.name}**).`;
}

/** The issue shown as its card (the card's own state brought up to date with Sentry's answer), with its buttons. */
async function show(ctx: CommandContext, asker: Asker, ref: IssueRef, posting: boolean): Promise<Answer> {
  const member = { guildId: guildOf(asker), userId: userOf(asker) };
  const found = await findIssue(ctx, member.guildId, ref, await sourcesMaySee(ctx, asker));
  if ('refused' in found) throw mayNotSee(found.refused.name);
  if ('problem' in found) return (await withNotices(ctx, member, { content: `❌ ${found.problem}` }))!;
  const routes = await routesOf(ctx.db, found.source.id);
  assertMaySee(asker, routes, found.source.name);
  const now = ctx.now();
  const base: CardState = found.card?.parsed ?? {
    key: `issue:${found.issueId}`,
    kind: 'issue',
    lastUpdate: { text: '', at: now },
    history: [],
  };
  const state: CardState = {
    ...merged(base, fromIssue(parseLoose(IssueSchema, found.issue))),
    lastUpdate: { text: 'Read from Sentry', at: now },
  };
  const route = routes.find((r) => r.id === found.card?.routeId) ?? routeTaking(routes, found.issue) ?? routes[0]!;
  const where = found.card
    ? `Its live card: https://discord.com/channels/${member.guildId}/${found.card.channelId}/${found.card.messageId}`
    : 'It has no live card in this server' + (posting ? '.' : ' (`post:true` posts one).');
  const posted = posting ? await post(ctx, asker, found, routes) : undefined;
  return (await withNotices(ctx, member, {
    content: [`**${escapeText(state.shortId ?? found.issueId)}** from **${found.source.name}**, as Sentry has it now. ${where}`, posted]
      .filter(Boolean)
      .join('\n'),
    embeds: [cardEmbed(state, { history: false })],
    components: cardButtons(state, { routeId: route.id, connected: true }),
  }))!;
}

/** `/dispatch issue find:<short id, number or Sentry URL> [post]`. */
export async function issueFindCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  const ref = parseIssueRef(interaction.options.getString('find', true));
  if (!ref) throw new UserError('Name the issue by its short id (`BACKEND-4F`), its number (`4242`) or its Sentry URL.');
  return show(ctx, interaction, ref, interaction.options.getBoolean('post') ?? false);
}

/** Suggestions for `find`: the server's newest issue cards the member may triage, matching what they typed. */
export async function issueAutocomplete(interaction: AutocompleteInteraction<'cached'>, ctx: CommandContext): Promise<void> {
  const typed = String(interaction.options.getFocused()).trim().toLowerCase();
  const all = mayManage(interaction.memberPermissions);
  const seen = new Set<string>();
  const choices: { name: string; value: string }[] = [];
  for (const card of await newestServerCards(ctx.db, guildOf(interaction), CARDS_READ)) {
    if (choices.length >= SUGGESTIONS) break;
    if (!all && !hasRole(interaction.member, card.triageRoleId)) continue;
    const state = JSON.parse(card.state) as CardState;
    const id = state.key.slice('issue:'.length);
    const name = [state.shortId, state.title].filter(Boolean).join(' · ') || `Sentry issue ${id}`;
    if (seen.has(id) || (typed && !name.toLowerCase().includes(typed) && !id.startsWith(typed))) continue;
    seen.add(id);
    choices.push({ name: truncate(name, 100), value: id });
  }
  await interaction.respond(choices);
}

/** Where a message may link to a Sentry issue: its text, its embeds' links and text, its link buttons. */
function linksIn(message: MessageInvocation['targetMessage']): (string | undefined)[] {
  return [
    message.content,
    ...message.embeds.flatMap((e) => [e.url ?? undefined, e.description ?? undefined, ...e.fields.map((f) => f.value)]),
    ...message.components.flatMap((row) =>
      'components' in row ? row.components.map((c) => ('url' in c ? (c.url ?? undefined) : undefined)) : [],
    ),
  ];
}

/** "Show Sentry issue", from a message's Apps menu. */
export const showIssueCommand: MessageCommand = {
  data: new ContextMenuCommandBuilder()
    .setName('Show Sentry issue')
    .setType(ApplicationCommandType.Message)
    // As /dispatch: Discord shows it to members with Manage Server unless the server allows more (its handler checks again).
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .setContexts(InteractionContextType.Guild),
  acknowledge: 'reply',
  async run(interaction, ctx) {
    const ref = firstIssueLink(linksIn(interaction.targetMessage));
    if (!ref) throw new UserError('That message has no link to a Sentry issue.');
    return show(ctx, interaction, ref, false);
  },
};
