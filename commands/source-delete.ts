import { guildOf } from '../src/ids.js';
import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import { deleteSource } from '../src/db/sources.js';
import { UserError } from '../src/user-error.js';
import { customId } from './replies.js';
import { assertFormFresh } from './source-create.js';
import { requireSource, sourceById } from './source-lookup.js';
import type { Answer, CommandContext, CommandInvocation, ComponentHandler } from './types.js';

/** `/dispatch source delete`: nothing is deleted until the member confirms with the button. */
export async function deleteCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<Answer> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  const issued = ctx.now();
  const buttons = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(customId('delete', source.id, 'confirm', issued))
      .setLabel(`Delete ${source.name}`)
      .setStyle(ButtonStyle.Danger),
    new ButtonBuilder()
      .setCustomId(customId('delete', source.id, 'cancel', issued))
      .setLabel('Cancel')
      .setStyle(ButtonStyle.Secondary),
  );
  return {
    content: `Delete source **${source.name}**? Its webhook URL stops working at once and its queued events are dropped. This cannot be undone.`,
    components: [buttons],
  };
}

export const deleteButtonHandler: ComponentHandler = {
  action: 'delete',
  // The answer replaces the question (and its buttons) with what was done.
  acknowledge: 'update',
  async handle(interaction, [sourceId, choice, issuedAt], ctx) {
    if (!interaction.isButton()) throw new UserError('This button is not valid any more.');
    if (choice !== 'confirm') return { content: 'Nothing was deleted.', components: [] };
    assertFormFresh(issuedAt, ctx.now());
    const source = await sourceById(ctx, guildOf(interaction), sourceId);
    const dropped = await deleteSource(ctx.db, source, ctx.now());
    ctx.tidy();
    ctx.logger.info({ source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, dropped }, 'source deleted');
    const note = dropped > 0 ? ` ${dropped} waiting event${dropped === 1 ? ' was' : 's were'} dropped with it.` : '';
    return { content: `🗑️ Source **${source.name}** deleted.${note}`, components: [] };
  },
};
