import {
  DiscordAPIError,
  MessageFlags,
  PermissionFlagsBits,
  RESTJSONErrorCodes,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import type { Answer, Command, CommandContext, Deferral, ComponentHandler, MessageCommand } from '../../commands/index.js';
import { isDatabaseUnreachable } from '../db/database.js';
import { UserError } from '../user-error.js';

const GENERIC_ERROR = 'Something went wrong on our side. Try again; if it keeps happening, ask the bot operator to check the logs.';
const NEEDS_MANAGE_GUILD = 'You need the **Manage Server** permission to use Dispatch.';
const DATABASE_AWAY = 'The database is unreachable; try again in a moment.';

/** An answer that did not reach Discord is sent once more (a kept-alive connection may have gone stale while the work ran). */
const ANSWER_ATTEMPTS = 2;

/** What an interaction asks for: a form to show at once, or work to do once it is acknowledged. */
type Work = { acknowledge: 'modal'; run: () => Promise<void> } | { acknowledge: Deferral; run: () => Promise<Answer | undefined> };

/**
 * The one entry point and error boundary for interactions. It re-checks Manage Server (Discord's
 * default_member_permissions can be overridden per server), keeps everything to guilds, acknowledges
 * each interaction as its handler declares before the handler runs (see Acknowledgement), sends the
 * handler's answer, and turns any error into an ephemeral answer: a UserError's own message,
 * otherwise a generic one.
 */
export function createInteractionRouter(
  registry: { commands: readonly Command[]; components: readonly ComponentHandler[]; messageCommands: readonly MessageCommand[] },
  ctx: CommandContext,
): (interaction: Interaction) => Promise<void> {
  const commandsByName = new Map(registry.commands.map((c) => [c.data.name, c]));
  const componentsByAction = new Map(registry.components.map((c) => [c.action, c]));
  const messageCommandsByName = new Map(registry.messageCommands.map((c) => [c.data.name, c]));

  /** The handler an interaction is for, bound to it; a member or an id it cannot serve is their error. */
  function workOf(interaction: Interaction<'cached'>, allowed: boolean): Work | undefined {
    if (interaction.isModalSubmit() || interaction.isButton() || interaction.isStringSelectMenu()) {
      const [prefix, action, ...args] = interaction.customId.split(':');
      const handler = prefix === 'dispatch' && action ? componentsByAction.get(action) : undefined;
      if (!handler) throw new UserError('This form or button is not valid any more. Run the command again.');
      if (!allowed && !handler.anyMember) throw new UserError(NEEDS_MANAGE_GUILD);
      const acknowledge = typeof handler.acknowledge === 'function' ? handler.acknowledge(args) : handler.acknowledge;
      return { acknowledge, run: () => handler.handle(interaction, args, ctx) };
    }
    if (interaction.isMessageContextMenuCommand()) {
      // Its handler checks who may use it (it acts as the triage buttons do).
      const command = messageCommandsByName.get(interaction.commandName);
      if (!command) throw new UserError('Unknown command. Run `npm run deploy-commands` to refresh the command list.');
      return { acknowledge: command.acknowledge, run: () => command.run(interaction, ctx) };
    }
    if (!interaction.isChatInputCommand()) return undefined;
    const path = [interaction.options.getSubcommandGroup(false), interaction.options.getSubcommand(false)].filter(Boolean).join(' ');
    const handler = commandsByName.get(interaction.commandName)?.handlers[path];
    if (!allowed && !handler?.anyMember) throw new UserError(NEEDS_MANAGE_GUILD);
    if (!handler) throw new UserError('Unknown command. Run `npm run deploy-commands` to refresh the command list.');
    if (handler.acknowledge === 'modal')
      return { acknowledge: 'modal', run: async () => void (await interaction.showModal(await handler.run(interaction, ctx))) };
    return { acknowledge: handler.acknowledge, run: () => handler.run(interaction, ctx) };
  }

  return async (interaction) => {
    let answer: Answer | undefined;
    let acknowledged: Deferral | undefined;
    try {
      if (!interaction.inCachedGuild()) {
        if (interaction.isRepliable()) throw new UserError('Dispatch works inside a server it has joined. Invite the bot, then try again.');
        return;
      }
      // Known to be away (this replica spools webhooks): say so at once rather than after a connection timeout.
      if (ctx.databaseAway?.() && !interaction.isAutocomplete()) throw new UserError(DATABASE_AWAY);
      const allowed = interaction.memberPermissions.has(PermissionFlagsBits.ManageGuild);
      if (interaction.isAutocomplete()) {
        const command = commandsByName.get(interaction.commandName);
        // A member without Manage Server gets suggestions only where a command of theirs asks (the autocomplete checks what they may see).
        if (!command?.autocomplete || (!allowed && !command.memberAutocomplete?.(interaction))) return void (await interaction.respond([]));
        return void (await command.autocomplete(interaction, ctx));
      }
      const work = workOf(interaction, allowed);
      if (!work || !interaction.isRepliable()) return;
      if (work.acknowledge === 'modal') return await work.run();
      if (!(await acknowledge(interaction, work.acknowledge, ctx))) return;
      acknowledged = work.acknowledge;
      answer = await work.run();
    } catch (error) {
      return answerError(interaction, error, acknowledged, ctx);
    }
    // Outside the error boundary: the work is done, and an answer that fails to arrive must not say otherwise.
    if (answer && acknowledged && interaction.isRepliable()) await sendAnswer(interaction, acknowledged, answer, ctx);
  };
}

/**
 * The first answer, before any work: if Discord does not take it (too late already, or unreachable),
 * the work is not done at all, so a member who saw "The application did not respond" finds nothing
 * half done.
 */
async function acknowledge(interaction: RepliableInteraction, how: Deferral, ctx: CommandContext): Promise<boolean> {
  try {
    if (how === 'update' && interaction.isMessageComponent()) await interaction.deferUpdate();
    else await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    return true;
  } catch (error) {
    // Discord took an earlier attempt whose answer was lost, and the REST client sent it again: acknowledged.
    if (error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged) {
      interaction.deferred = true;
      return true;
    }
    ctx.logger.warn(
      { err: error, interaction_id: interaction.id, guild_id: interaction.guildId },
      'interaction not acknowledged: left undone',
    );
    return false;
  }
}

/**
 * Where an answer goes. Not acknowledged (an error found before): an ephemeral reply. After a
 * deferred reply: it replaces it. After a deferred update: a handler's answer edits the member's own
 * message the button sits on (the question becomes its outcome), while an error, and anything on a
 * shared message (a card, which an answer never edits), comes as an ephemeral follow-up.
 */
function send(interaction: RepliableInteraction, acknowledged: Deferral | undefined, message: Answer, isError: boolean) {
  const quiet = { ...message, allowedMentions: { parse: [] } };
  const followUp = () => interaction.followUp({ ...quiet, flags: MessageFlags.Ephemeral });
  if (!acknowledged)
    return interaction.replied || interaction.deferred ? followUp() : interaction.reply({ ...quiet, flags: MessageFlags.Ephemeral });
  const ownMessage = interaction.isMessageComponent() && interaction.message.flags.has(MessageFlags.Ephemeral);
  if (acknowledged === 'reply' || (ownMessage && !isError)) return interaction.editReply(quiet);
  return followUp();
}

/**
 * A finished handler's answer. Its work is done whatever happens here: an answer that does not
 * arrive is sent once more (Discord's own refusal would be the same again), then logged, never
 * answered as an error.
 */
async function sendAnswer(interaction: RepliableInteraction, acknowledged: Deferral, answer: Answer, ctx: CommandContext) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return void (await send(interaction, acknowledged, answer, false));
    } catch (error) {
      if (attempt < ANSWER_ATTEMPTS && !(error instanceof DiscordAPIError)) continue;
      ctx.logger.warn(
        { err: error, interaction_id: interaction.id, guild_id: interaction.guildId },
        'the answer did not arrive; its work was done',
      );
      return;
    }
  }
}

async function answerError(
  interaction: Interaction,
  error: unknown,
  acknowledged: Deferral | undefined,
  ctx: CommandContext,
): Promise<void> {
  const isUserError = error instanceof UserError;
  const databaseAway = !isUserError && isDatabaseUnreachable(error);
  if (!isUserError) {
    ctx.logger[databaseAway ? 'warn' : 'error'](
      { err: error, interaction_id: interaction.id, guild_id: interaction.guildId, user_id: interaction.user.id },
      databaseAway ? 'interaction failed: the database is unreachable' : 'interaction failed',
    );
  }
  const shown = isUserError ? `❌ ${error.message}` : databaseAway ? `❌ ${DATABASE_AWAY}` : GENERIC_ERROR;
  try {
    if (interaction.isAutocomplete()) {
      if (!interaction.responded) await interaction.respond([]);
    } else if (interaction.isRepliable()) {
      await send(interaction, acknowledged, { content: shown }, true);
    }
  } catch (replyError) {
    ctx.logger.warn({ err: replyError, interaction_id: interaction.id }, 'could not tell the user about an error');
  }
}
