import { guildOf } from '../src/ids.js';
import { ModalBuilder } from 'discord.js';
import { setSourceSecret } from '../src/db/sources.js';
import { UserError } from '../src/user-error.js';
import { customId, modalTitle } from './replies.js';
import { assertFormFresh, readSecret, secretInput } from './source-create.js';
import { requireSource, sourceById } from './source-lookup.js';
import type { CommandContext, CommandInvocation, ComponentHandler } from './types.js';

/** `/dispatch source secret`: a modal to set, rotate or clear the signing secret. */
export async function secretCommand(interaction: CommandInvocation, ctx: CommandContext): Promise<ModalBuilder> {
  const source = await requireSource(ctx, guildOf(interaction), interaction.options.getString('source', true));
  return new ModalBuilder()
    .setCustomId(customId('secret', source.id, ctx.now()))
    .setTitle(modalTitle(`Signing secret: ${source.name}`))
    .addLabelComponents(
      secretInput(
        ctx.requireSignature ? 'Paste the new Client Secret.' : 'Paste the new Client Secret. Leave blank to turn signature checks off.',
        ctx.requireSignature,
      ),
    );
}

export const secretModalHandler: ComponentHandler = {
  action: 'secret',
  acknowledge: 'reply',
  async handle(interaction, [sourceId, issuedAt], ctx) {
    if (!interaction.isModalSubmit()) throw new UserError('This form is not valid any more. Run the command again.');
    assertFormFresh(issuedAt, ctx.now());
    const source = await sourceById(ctx, guildOf(interaction), sourceId);
    const secret = readSecret(interaction.fields.getTextInputValue('secret'), ctx.requireSignature);
    const had = source.signingSecret !== null;
    await setSourceSecret(ctx.db, source, secret === null ? null : ctx.secrets.seal(secret), ctx.now());
    ctx.logger.info(
      { source_id: source.id, guild_id: source.guildId, user_id: interaction.user.id, has_secret: secret !== null },
      'signing secret changed',
    );
    const what =
      secret === null
        ? 'cleared: signatures are no longer checked ⚠️'
        : had
          ? 'rotated: only the new secret is accepted from now on'
          : 'set: every webhook must now be signed with it';
    return { content: `🔑 Signing secret for **${source.name}** ${what}.` };
  },
};
