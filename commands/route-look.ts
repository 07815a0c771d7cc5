import { EmbedBuilder, type APIEmbed } from 'discord.js';
import { latestEvents } from '../src/db/event-reads.js';
import { routesOf } from '../src/db/routes.js';
import { assertCanPostIn } from '../src/discord/channel-check.js';
import { COLORS } from '../src/embed/colors.js';
import { truncate } from '../src/embed/text.js';
import { partsThatFit } from '../src/delivery/policy.js';
import { renderEvent } from '../src/render/render-event.js';
import { selectRoutes } from '../src/routing/select-routes.js';
import { guildOf } from '../src/ids.js';
import { describeRoute, DRY_RUN_EVENTS, requireRoute } from './route.js';
import { requireSource } from './source-lookup.js';
import type { Answer, CommandContext, CommandInvocation } from './types.js';

/**
 * What a route would do, shown without changing anything: `route test` (its source's last events
 * through its routes now) and `route digest` (its digest now, to the member or posted).
 */

type Interaction = CommandInvocation;

/** `/dispatch route test`: the source's last events through its current routes. Nothing is posted. */
export async function routeTestCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const routes = await routesOf(ctx.db, source.id);
  const events = await latestEvents(ctx.db, source.id, DRY_RUN_EVENTS);
  const posted = new Map(routes.map((r) => [r.id, { count: 0, example: undefined as string | undefined }]));
  let nowhere = 0;
  for (const event of events) {
    const drawn = renderEvent(event);
    const { through } = selectRoutes(routes, event.eventType, drawn.facts, drawn.alert);
    if (through.length === 0) nowhere += 1;
    for (const route of through) {
      const tally = posted.get(route.id)!;
      tally.count += 1;
      // An embed title is markdown already, its payload text escaped by the formatter or template.
      tally.example ??= `\`${event.eventType}\` ${truncate(drawn.embeds[0]?.title ?? '', 120)}`;
    }
  }
  const embed = new EmbedBuilder()
    .setTitle(`Dry run of ${source.name}: its last ${events.length} events through its routes now`)
    .setColor(COLORS.blue)
    .setDescription(events.length === 0 ? 'No events stored yet.' : `Kept out by every route: ${nowhere}. Nothing was posted.`);
  for (const route of routes) {
    const tally = posted.get(route.id)!;
    embed.addFields({
      name: `${route.name} → would post ${tally.count}`,
      value: truncate(`${describeRoute(route)}${tally.example ? `\ne.g. ${tally.example}` : ''}`, 1024),
    });
  }
  return { embeds: [embed] };
}

/**
 * A digest as one ephemeral answer, which holds 6,000 characters of embeds: a long digest shows
 * its first pages and says how many more there are.
 */
export function digestPreview(pages: readonly APIEmbed[]): { content: string; embeds: APIEmbed[] } {
  const embeds = pages.slice(0, partsThatFit(pages.map((page) => ({ embeds: [page] }))));
  const rest = pages.length - embeds.length;
  if (pages.length === 0) return { content: 'Nothing to say.', embeds };
  return { content: rest > 0 ? `${rest} more page${rest === 1 ? '' : 's'}: \`post:true\` posts it whole.` : '', embeds };
}

/**
 * `/dispatch route digest`: the route's digest since its last one (or of the last day), now — only
 * to the member who asked, or (`post`) in the route's channel like a scheduled one. Drawing it
 * reads the route's stored events: acknowledged (deferred) before, like every command.
 */
export async function routeDigestCommand(interaction: Interaction, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const route = await requireRoute(ctx, source, interaction.options.getString('route', true));
  if (interaction.options.getBoolean('post')) {
    assertCanPostIn(interaction.guild, route.channelId);
    await ctx.digests.makeNow(route, source.guildId);
    ctx.logger.info(
      { source_id: source.id, route_id: route.id, guild_id: source.guildId, user_id: interaction.user.id },
      'digest asked for',
    );
    return { content: `📋 The digest of **${route.name}** is on its way to <#${route.channelId}>.` };
  }
  return digestPreview(await ctx.digests.preview(route, source.guildId));
}
