import { channelIdOf, guildOf } from '../src/ids.js';
import { routesOf, updateRoute } from '../src/db/routes.js';
import { findSource, renameSource, SourceNameTaken } from '../src/db/sources.js';
import { assertCanPostIn } from '../src/discord/channel-check.js';
import { UserError } from '../src/user-error.js';
import { routeRefusal } from './route.js';
import { nameTaken, requireSource, sourceNameFrom } from './source-lookup.js';
import type { Answer, CommandContext, CommandInvocation } from './types.js';

/**
 * `/dispatch source edit`: a new name, or a new channel for the first route (its waiting events go
 * with it). The webhook URL, and so Sentry's settings, never change.
 */
export async function editCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  let source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const rawName = interaction.options.getString('name');
  const channel = interaction.options.getChannel('channel');
  if (!rawName && !channel) throw new UserError('Give a new `name`, a new `channel`, or both.');
  const name = rawName ? sourceNameFrom(rawName) : undefined;
  if (channel) assertCanPostIn(interaction.guild, channelIdOf(channel));
  const lines: string[] = [];
  if (name && name !== source.name) {
    if (await findSource(ctx.db, guildOf(interaction), name)) throw nameTaken(name);
    const before = source.name;
    source = await renameSource(ctx.db, source, name, ctx.now()).catch((error: unknown) => {
      throw error instanceof SourceNameTaken ? nameTaken(error.sourceName) : error;
    });
    lines.push(`✏️ **${before}** is now **${source.name}**.`);
  }
  if (channel) {
    const first = (await routesOf(ctx.db, source.id))[0]!;
    await updateRoute(ctx.db, first, { channelId: channelIdOf(channel) }, ctx.now()).catch((error: unknown) => {
      throw routeRefusal(error, source);
    });
    ctx.wakeDelivery();
    lines.push(`✏️ Route **${first.name}** of **${source.name}** now posts in <#${channel.id}>; events still waiting go there too.`);
  }
  ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id }, 'source edited');
  lines.push('The webhook URL is unchanged: nothing to change in Sentry.');
  return { content: lines.join('\n') };
}
