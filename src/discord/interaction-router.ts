import { MessageFlags, PermissionFlagsBits, type Interaction, type RepliableInteraction } from 'discord.js';
import type { Command, CommandContext, ComponentHandler } from '../../commands/index.js';
import { UserError } from '../user-error.js';

const GENERIC_ERROR = 'Something went wrong on our side. Try again; if it keeps happening, ask the bot operator to check the logs.';
const NEEDS_MANAGE_GUILD = 'You need the **Manage Server** permission to use Dispatch.';

/**
 * The one entry point and error boundary for interactions. It re-checks Manage Server (Discord's
 * default_member_permissions can be overridden per server), keeps everything to guilds, routes, and
 * turns any error into an ephemeral answer: a UserError's own message, otherwise a generic one.
 */
export function createInteractionRouter(
  registry: { commands: readonly Command[]; components: readonly ComponentHandler[] },
  ctx: CommandContext,
): (interaction: Interaction) => Promise<void> {
  const commandsByName = new Map(registry.commands.map((c) => [c.data.name, c]));
  const componentsByAction = new Map(registry.components.map((c) => [c.action, c]));

  return async (interaction) => {
    try {
      if (!interaction.inCachedGuild()) {
        if (interaction.isRepliable()) throw new UserError('Dispatch works inside a server it has joined. Invite the bot, then try again.');
        return;
      }
      const allowed = interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
      if (interaction.isAutocomplete()) {
        const command = commandsByName.get(interaction.commandName);
        if (!allowed || !command?.autocomplete) return void (await interaction.respond([]));
        return void (await command.autocomplete(interaction, ctx));
      }
      if (interaction.isModalSubmit() || interaction.isButton() || interaction.isStringSelectMenu()) {
        const [prefix, action, ...args] = interaction.customId.split(':');
        const handler = prefix === 'dispatch' && action ? componentsByAction.get(action) : undefined;
        if (!handler) throw new UserError('This form or button is not valid any more. Run the command again.');
        if (!allowed && !handler.anyMember) throw new UserError(NEEDS_MANAGE_GUILD);
        return void (await handler.handle(interaction, args, ctx));
      }
      if (!allowed) throw new UserError(NEEDS_MANAGE_GUILD);
      if (interaction.isChatInputCommand()) {
        const command = commandsByName.get(interaction.commandName);
        if (!command) throw new UserError('Unknown command.');
        return void (await command.execute(interaction, ctx));
      }
    } catch (error) {
      await answerError(interaction, error, ctx);
    }
  };
}

async function answerError(interaction: Interaction, error: unknown, ctx: CommandContext): Promise<void> {
  const isUserError = error instanceof UserError;
  if (!isUserError) {
    ctx.logger.error(
      { err: error, interaction_id: interaction.id, guild_id: interaction.guildId, user_id: interaction.user.id },
      'interaction failed',
    );
  }
  const content = isUserError ? `❌ ${error.message}` : GENERIC_ERROR;
  try {
    if (interaction.isAutocomplete()) {
      if (!interaction.responded) await interaction.respond([]);
    } else if (interaction.isRepliable()) {
      await replyOnce(interaction, content);
    }
  } catch (replyError) {
    ctx.logger.warn({ err: replyError, interaction_id: interaction.id }, 'could not tell the user about an error');
  }
}

function replyOnce(interaction: RepliableInteraction, content: string): Promise<unknown> {
  const message = { content, allowedMentions: { parse: [] } };
  // A component deferred with deferUpdate would have editReply change the message it sits on (a card): never.
  if (interaction.deferred && interaction.isMessageComponent()) return interaction.followUp({ ...message, flags: MessageFlags.Ephemeral });
  if (interaction.deferred) return interaction.editReply(message);
  if (interaction.replied) return interaction.followUp({ ...message, flags: MessageFlags.Ephemeral });
  return interaction.reply({ ...message, flags: MessageFlags.Ephemeral });
}
