import {
  ChannelType,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
  type SlashCommandStringOption,
} from 'discord.js';
import { searchSourceNames, SOURCE_NAME_MAX } from '../src/db/sources.js';
import { EVENT_PATTERN_MAX_LENGTH } from '../src/sentry/event-type.js';
import { UserError } from '../src/user-error.js';
import { createCommand } from './source-create.js';
import { deleteCommand } from './source-delete.js';
import { disableCommand, enableCommand, infoCommand, listCommand, testCommand } from './source-manage.js';
import { logCommand, retryCommand } from './source-delivery.js';
import { secretCommand } from './source-secret.js';
import { templateClearCommand, templateListCommand, templatePreviewCommand, templateSetCommand } from './template.js';
import type { Command, CommandContext } from './types.js';

const sourceOption = (option: SlashCommandStringOption) =>
  option.setName('source').setDescription('The source').setRequired(true).setAutocomplete(true).setMaxLength(SOURCE_NAME_MAX);

const eventOption = (option: SlashCommandStringOption) =>
  option
    .setName('event')
    .setDescription('issue.created, issue.* or * (the default)')
    .setRequired(false)
    .setMaxLength(EVENT_PATTERN_MAX_LENGTH);

const data = new SlashCommandBuilder()
  .setName('dispatch')
  .setDescription('Post Sentry events in this server')
  // Discord hides the command from members without Manage Server; the interaction router checks again.
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommandGroup((group) =>
    group
      .setName('source')
      .setDescription('Manage Sentry sources')
      .addSubcommand((sub) =>
        sub
          .setName('create')
          .setDescription('Create a webhook URL for a Sentry integration, posting in a channel')
          .addStringOption((o) =>
            o.setName('name').setDescription('A short name, e.g. backend').setRequired(true).setMinLength(1).setMaxLength(SOURCE_NAME_MAX),
          )
          .addChannelOption((o) =>
            o
              .setName('channel')
              .setDescription('Where events are posted')
              .setRequired(true)
              .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement),
          ),
      )
      .addSubcommand((sub) => sub.setName('list').setDescription("This server's sources"))
      .addSubcommand((sub) =>
        sub.setName('info').setDescription('URL, status and delivery counts of a source').addStringOption(sourceOption),
      )
      .addSubcommand((sub) => sub.setName('enable').setDescription('Accept and post events again').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('disable').setDescription('Refuse events and post nothing').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('delete').setDescription('Delete a source and its events').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('secret').setDescription('Set, rotate or clear the signing secret').addStringOption(sourceOption))
      .addSubcommand((sub) =>
        sub.setName('test').setDescription('Post a sample event in the source channel').addStringOption(sourceOption),
      ),
  )
  .addSubcommandGroup((group) =>
    group
      .setName('template')
      .setDescription('Custom message templates')
      .addSubcommand((sub) =>
        sub
          .setName('set')
          .setDescription('Set the template for an event type, a resource or all events')
          .addStringOption(sourceOption)
          .addStringOption(eventOption),
      )
      .addSubcommand((sub) =>
        sub
          .setName('preview')
          .setDescription('Render a template against the last matching event')
          .addStringOption(sourceOption)
          .addStringOption(eventOption),
      )
      .addSubcommand((sub) => sub.setName('list').setDescription("A source's templates").addStringOption(sourceOption))
      .addSubcommand((sub) =>
        sub.setName('clear').setDescription('Remove a template').addStringOption(sourceOption).addStringOption(eventOption),
      ),
  );

type Handler = (interaction: ChatInputCommandInteraction<'cached'>, ctx: CommandContext) => Promise<void>;

const SOURCE_HANDLERS: Record<string, Handler> = {
  create: createCommand,
  list: listCommand,
  info: infoCommand,
  enable: enableCommand,
  disable: disableCommand,
  delete: deleteCommand,
  secret: secretCommand,
  test: testCommand,
  retry: retryCommand,
  log: logCommand,
};

const TEMPLATE_HANDLERS: Record<string, Handler> = {
  set: templateSetCommand,
  preview: templatePreviewCommand,
  list: templateListCommand,
  clear: templateClearCommand,
};

export const dispatchCommand = {
  data,
  async execute(interaction, ctx) {
    const group = interaction.options.getSubcommandGroup();
    const handlers = group === 'source' ? SOURCE_HANDLERS : group === 'template' ? TEMPLATE_HANDLERS : {};
    const handler = handlers[interaction.options.getSubcommand()];
    if (!handler) throw new UserError('Unknown command. Run `npm run deploy-commands` to refresh the command list.');
    await handler(interaction, ctx);
  },
  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    const names = focused.name === 'source' ? await searchSourceNames(ctx.db, interaction.guildId, String(focused.value)) : [];
    await interaction.respond(names.map((name) => ({ name, value: name })));
  },
} satisfies Command;
