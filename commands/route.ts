import { ActionRowBuilder, ButtonBuilder, ButtonStyle, EmbedBuilder, PermissionFlagsBits, type Guild, type Role } from 'discord.js';
import { backlogOfRoute, waitingOfRoute } from '../src/db/queue.js';
import { latestEvents } from '../src/db/event-reads.js';
import { holdsOfChannels } from '../src/db/holds.js';
import {
  channelRouteById,
  createRoute,
  deleteRoute,
  findRoute,
  ROUTE_NAME_PATTERN,
  RouteChannelTaken,
  RouteNameTaken,
  routesOf,
  updateRoute,
  type RouteChanges,
} from '../src/db/routes.js';
import type { Route, Source } from '../src/db/schema.js';
import { findSourceById } from '../src/db/sources.js';
import { assertCanPostIn, threadPermissionWarning } from '../src/discord/channel-check.js';
import { DEFAULT_LAYOUT, describeLayout, layoutFrom } from './layout.js';
import { COLORS } from '../src/embed/colors.js';
import { escapeText } from '../src/embed/markdown.js';
import { truncate } from '../src/embed/text.js';
import {
  applyFilterOptions,
  deserializeFilter,
  describeFilter,
  environmentCaseMismatches,
  serializeFilter,
  takesNoEvent,
  type FilterOptions,
  type RouteFilter,
} from '../src/routing/filter.js';
import { eventFacts } from '../src/sentry/facts.js';
import { parsePayload } from '../src/sentry/payload.js';
import { UserError } from '../src/user-error.js';
import { customId, relativeTime } from './replies.js';
import { describeSchedule, scheduleChanges } from './route-schedule.js';
import { assertFormFresh } from './source-create.js';
import { requireSource } from './source-lookup.js';
import { holdReason } from './source-status.js';
import type { Answer, CommandContext, CommandInvocation, ComponentHandler } from './types.js';
import type { ChannelId, RoleId } from '../src/ids.js';
import { channelIdOf, guildOf, parseRouteId, roleIdOf } from '../src/ids.js';

type Interaction = CommandInvocation;

/** Events the dry run replays, and whose environments a filter is checked against. */
export const DRY_RUN_EVENTS = 50;

function routeNameFrom(raw: string): string {
  const name = raw.trim().toLowerCase();
  if (!ROUTE_NAME_PATTERN.test(name)) {
    throw new UserError('A route name is 1 to 32 characters: lowercase letters, digits, "-" and "_", starting with a letter or digit.');
  }
  return name;
}

/** A route change the repository refused, in the member's words; anything else as it was. */
export function routeRefusal(error: unknown, source: Source): unknown {
  if (error instanceof RouteNameTaken) return new UserError(`**${source.name}** already has a route named "${error.routeName}".`);
  if (error instanceof RouteChannelTaken)
    return new UserError(
      `Route **${error.routeName}** of **${source.name}** already posts in <#${error.channelId}>: two routes of one source in one channel would post every event they both take twice. Change that route's filter or ping instead (\`/dispatch route edit\`), or pick another channel.`,
    );
  return error;
}

export async function requireRoute(ctx: CommandContext, source: Source, name: string): Promise<Route> {
  const route = await findRoute(ctx.db, source.id, name);
  if (!route) throw new UserError(`**${source.name}** has no route named "${name.replace(/[^a-z0-9_-]/gi, '').slice(0, 32) || '?'}".`);
  return route;
}

function filterOptions(interaction: Interaction): FilterOptions {
  return {
    events: interaction.options.getString('events'),
    minLevel: interaction.options.getString('min-level'),
    environments: interaction.options.getString('environments'),
    projects: interaction.options.getString('projects'),
    tags: interaction.options.getString('tags'),
  };
}

/**
 * The role a route may ping, checked: never @everyone, and a warning when the bot cannot mention
 * it (Discord would show the mention without pinging anyone).
 */
function pingRole(role: Role, guild: Guild, channelId: ChannelId): { roleId: RoleId; warning?: string } {
  if (role.id === guild.id) throw new UserError('A route cannot ping @everyone. Pick a role.');
  const me = guild.members.me;
  const channel = guild.channels.cache.get(channelId);
  const mayMentionAll = me && channel ? channel.permissionsFor(me)?.has(PermissionFlagsBits.MentionEveryone) : false;
  if (role.mentionable || mayMentionAll) return { roleId: roleIdOf(role) };
  return {
    roleId: roleIdOf(role),
    warning: `⚠️ The bot cannot mention <@&${role.id}>: its pings will not notify anyone until the role is made mentionable (Server Settings → Roles → "Allow anyone to @mention this role") or the bot gets **Mention @everyone, @here, and All Roles** in <#${channelId}>.`,
  };
}

/** A route in one line: its channel, layout, filter and ping. */
export function describeRoute(route: Route): string {
  const ping = route.pingRoleId ? ` · pings <@&${route.pingRoleId}> at ${route.pingLevel} and above` : '';
  const triage = route.triageRoleId ? ` · <@&${route.triageRoleId}> may triage` : '';
  return `<#${route.channelId}> · ${describeLayout(route)} · ${escapeText(describeFilter(deserializeFilter(route.filter)))}${ping}${triage}`;
}

/** `ping-level` alone would be stored and never used: say so rather than accept it silently. */
function assertPingLevelHasRole(level: string | null, pingRoleId: string | null | undefined): void {
  if (level && !pingRoleId) {
    throw new UserError(
      '`ping-level` says from which level the route pings its role, and this route pings no role: add `ping:@role` too, or leave `ping-level` out.',
    );
  }
}

/** The environments of the source's recent events, as their payloads say (what the filter is matched against). */
async function recentEnvironments(ctx: CommandContext, source: Source): Promise<string[]> {
  const environments: string[] = [];
  for (const event of await latestEvents(ctx.db, source.id, DRY_RUN_EVENTS)) {
    try {
      const environment = eventFacts(event.eventType, parsePayload(event.body)).environment;
      if (environment) environments.push(environment);
    } catch {
      // a body that does not read has no environment to compare
    }
  }
  return environments;
}

/** What a filter will not do that its author likely meant it to: take no event at all, or miss an environment by its case. */
async function filterWarnings(ctx: CommandContext, source: Source, filter: RouteFilter, typed: FilterOptions): Promise<string[]> {
  const warnings: string[] = [];
  const nothing = takesNoEvent(filter);
  if (nothing) warnings.push(`⚠️ This route can never take an event: ${nothing}. Change its \`events\` (\`-\` clears them).`);
  if (typed.environments && filter.environments?.length) {
    for (const { typed: name, seen } of environmentCaseMismatches(filter, await recentEnvironments(ctx, source))) {
      warnings.push(
        `⚠️ \`environments\`: this source's recent events say "${escapeText(seen)}", not "${escapeText(name)}", and environments match exactly, case included.`,
      );
    }
  }
  return warnings;
}

/** On a card route, the warning that its cards will have no threads there, if so. */
function threadWarning(route: Route, guild: Guild): string | undefined {
  return route.layout === 'card' ? threadPermissionWarning(guild, route.channelId) : undefined;
}

/** `/dispatch route add`: another channel for some of a source's events; the webhook URL does not change. */
export async function routeAddCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const name = routeNameFrom(interaction.options.getString('name', true));
  const channelId = channelIdOf(interaction.options.getChannel('channel', true));
  const layout = layoutFrom(interaction.options.getString('layout'), DEFAULT_LAYOUT);
  assertCanPostIn(interaction.guild, channelId);
  const typed = filterOptions(interaction);
  const filter = applyFilterOptions({}, typed);
  const role = interaction.options.getRole('ping');
  const ping = role ? pingRole(role, interaction.guild, channelId) : undefined;
  const pingLevel = interaction.options.getString('ping-level');
  assertPingLevelHasRole(pingLevel, ping?.roleId);
  const route = await createRoute(
    ctx.db,
    {
      sourceId: source.id,
      name,
      channelId,
      layout,
      filter: serializeFilter(filter),
      pingRoleId: ping?.roleId ?? null,
      pingLevel: pingLevel ?? 'error',
      createdBy: interaction.user.id,
    },
    ctx.now(),
  ).catch((error: unknown) => {
    throw routeRefusal(error, source);
  });
  ctx.logger.info({ source_id: source.id, route_id: route.id, guild_id: source.guildId, user_id: interaction.user.id }, 'route added');
  const lines = [
    `✅ Route **${route.name}** of **${source.name}**: ${describeRoute(route)}.`,
    'The webhook URL stays the same.',
    threadWarning(route, interaction.guild),
    ping?.warning,
    ...(await filterWarnings(ctx, source, filter, typed)),
  ];
  return { content: lines.filter(Boolean).join('\n') };
}

export async function routeListCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const routes = await routesOf(ctx.db, source.id);
  const holds = await holdsOfChannels(
    ctx.db,
    routes.map((r) => r.channelId),
  );
  const embed = new EmbedBuilder().setTitle(`Routes of ${source.name}`).setColor(COLORS.blue);
  for (const route of routes) {
    const { waiting } = await backlogOfRoute(ctx.db, route.id);
    const hold = holds.get(route.channelId);
    const state = hold ? `\n⛔ on hold since ${relativeTime(hold.since)}: ${holdReason(hold, interaction.guild)}` : '';
    const schedule = describeSchedule(route, ctx.now());
    const held = route.quietFrom !== null ? ` · held for the quiet-hours digest ${await waitingOfRoute(ctx.db, route.id, 'quiet')}` : '';
    embed.addFields({
      name: route.name,
      value: truncate(
        `${describeRoute(route)}\nwaiting ${waiting}${held} · filtered out ${route.eventsFiltered}${schedule ? `\n${schedule}` : ''}${state}`,
        1024,
      ),
    });
  }
  return { embeds: [embed] };
}

/** `/dispatch route edit`: any of channel, filter parts, ping, name; `-` clears a filter part. */
export async function routeEditCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const route = await requireRoute(ctx, source, interaction.options.getString('route', true));
  const changes: RouteChanges = {};
  const newName = interaction.options.getString('name');
  if (newName) changes.name = routeNameFrom(newName);
  const channel = interaction.options.getChannel('channel');
  if (channel) {
    assertCanPostIn(interaction.guild, channelIdOf(channel));
    changes.channelId = channelIdOf(channel);
  }
  const typed = filterOptions(interaction);
  const filter = applyFilterOptions(deserializeFilter(route.filter), typed);
  changes.filter = serializeFilter(filter);
  const role = interaction.options.getRole('ping');
  const ping = role ? pingRole(role, interaction.guild, changes.channelId ?? route.channelId) : undefined;
  if (ping) changes.pingRoleId = ping.roleId;
  if (interaction.options.getBoolean('remove-ping')) changes.pingRoleId = null;
  const level = interaction.options.getString('ping-level');
  assertPingLevelHasRole(level, changes.pingRoleId === undefined ? route.pingRoleId : changes.pingRoleId);
  if (level) changes.pingLevel = level;
  const layout = interaction.options.getString('layout');
  if (layout) changes.layout = layoutFrom(layout, route.layout);
  const triageRole = interaction.options.getRole('triage-role');
  if (triageRole) {
    if (triageRole.id === interaction.guildId)
      throw new UserError('The triage role cannot be @everyone: pick a role of the people who triage.');
    changes.triageRoleId = roleIdOf(triageRole);
  }
  if (interaction.options.getBoolean('remove-triage-role')) changes.triageRoleId = null;
  const schedule = scheduleChanges(interaction, route);
  if (schedule) changes.schedule = schedule;
  const updated = await updateRoute(ctx.db, route, changes, ctx.now()).catch((error: unknown) => {
    throw routeRefusal(error, source);
  });
  const released = route.quietFrom !== null && updated.quietFrom === null;
  if (changes.channelId || changes.layout || released) ctx.wakeDelivery();
  if (changes.layout || released) ctx.tidy();
  ctx.logger.info({ source_id: source.id, route_id: route.id, guild_id: source.guildId, user_id: interaction.user.id }, 'route edited');
  const moved =
    changes.channelId && changes.channelId !== route.channelId ? `Events still waiting go to <#${changes.channelId}>.` : undefined;
  const lines = [
    `✏️ Route **${updated.name}** of **${source.name}**: ${describeRoute(updated)}.`,
    moved,
    changes.layout === 'feed' && route.layout === 'card'
      ? 'Cards already posted stay as they are; new events are posted one by one.'
      : undefined,
    changes.channelId || changes.layout ? threadWarning(updated, interaction.guild) : undefined,
    schedule ? (describeSchedule(updated, ctx.now()) ?? 'No quiet hours and no digest: every event goes out as it comes.') : undefined,
    released ? 'Quiet hours are off: what they held goes out now.' : undefined,
    ping?.warning,
    ...(await filterWarnings(ctx, source, filter, typed)),
  ];
  return { content: lines.filter(Boolean).join('\n') };
}

/** `/dispatch route remove`: asks first; a source keeps at least one route. */
export async function routeRemoveCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const route = await requireRoute(ctx, source, interaction.options.getString('route', true));
  if ((await routesOf(ctx.db, source.id)).length === 1) {
    throw new UserError(
      `**${route.name}** is the only route of **${source.name}**: a source needs one. Move it with \`/dispatch route edit\`, or delete the source.`,
    );
  }
  const { waiting } = await backlogOfRoute(ctx.db, route.id);
  const issued = ctx.now();
  const buttons = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(customId('route-del', route.id, 'confirm', issued))
      .setLabel(`Remove ${route.name}`)
      .setStyle(ButtonStyle.Danger),
    new ButtonBuilder()
      .setCustomId(customId('route-del', route.id, 'cancel', issued))
      .setLabel('Cancel')
      .setStyle(ButtonStyle.Secondary),
  );
  const dropped = waiting > 0 ? ` Its ${waiting} waiting event${waiting === 1 ? ' is' : 's are'} dropped.` : '';
  return { content: `Remove route **${route.name}** (<#${route.channelId}>) of **${source.name}**?${dropped}`, components: [buttons] };
}

export const routeRemoveButton: ComponentHandler = {
  action: 'route-del',
  // The answer replaces the question (and its buttons) with what was done.
  acknowledge: 'update',
  async handle(interaction, [routeId, choice, issuedAt], ctx) {
    if (!interaction.isButton()) throw new UserError('This button is not valid any more.');
    if (choice !== 'confirm') return { content: 'Nothing was removed.', components: [] };
    assertFormFresh(issuedAt, ctx.now());
    const id = parseRouteId(routeId);
    const route = id === undefined ? undefined : await channelRouteById(ctx.db, id);
    const source = route ? await findSourceById(ctx.db, guildOf(interaction), route.sourceId) : undefined;
    if (!route || !source) throw new UserError('That route no longer exists.');
    if ((await routesOf(ctx.db, source.id)).length === 1) throw new UserError('A source needs one route: this is its last one now.');
    const dropped = await deleteRoute(ctx.db, route, ctx.now());
    ctx.tidy();
    ctx.logger.info(
      { source_id: source.id, route_id: route.id, guild_id: source.guildId, user_id: interaction.user.id, dropped },
      'route removed',
    );
    const note =
      dropped > 0 ? ` ${dropped} waiting event${dropped === 1 ? ' was' : 's were'} dropped (counted in \`/dispatch source info\`).` : '';
    return { content: `🗑️ Route **${route.name}** of **${source.name}** removed.${note}`, components: [] };
  },
};
