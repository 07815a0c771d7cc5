import { guildOf } from '../src/ids.js';
import { InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { findSource, searchSourceNames } from '../src/db/sources.js';
import { searchRouteNames } from '../src/db/routes.js';
import { routeAddCommand, routeEditCommand, routeListCommand, routeRemoveCommand } from './route.js';
import { routeDigestCommand, routeTestCommand } from './route-look.js';
import { timeZoneChoices } from './route-schedule.js';
import { createCommand } from './source-create.js';
import { deleteCommand } from './source-delete.js';
import { logCommand, retryCommand } from './source-delivery.js';
import { editCommand } from './source-edit.js';
import { disableCommand, enableCommand, infoCommand, listCommand, testCommand } from './source-manage.js';
import { secretCommand } from './source-secret.js';
import { connectCommand } from './source-connect.js';
import { schemaCommand } from './source-schema.js';
import { templateClearCommand, templateListCommand, templatePreviewCommand, templateSetCommand } from './template.js';
import type { Command, SlashHandler } from './types.js';
import {
  NAME_MAX,
  sourceOption,
  routeOption,
  eventOption,
  channelOption,
  LEVEL_CHOICES,
  layoutOption,
  routeOptions,
} from './dispatch-options.js';
import { meConnectCommand, meDisconnectCommand, meGroup, meNotifyCommand, meShowCommand } from './me.js';
import { issueAutocomplete, issueFindCommand, issueSubcommand } from './issue.js';

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
            o.setName('name').setDescription('A short name, e.g. backend').setRequired(true).setMinLength(1).setMaxLength(NAME_MAX),
          )
          .addChannelOption(channelOption(true, 'Where events are posted (its first route)'))
          .addStringOption(layoutOption('How events are shown (default card)')),
      )
      .addSubcommand((sub) => sub.setName('list').setDescription("This server's sources"))
      .addSubcommand((sub) =>
        sub.setName('info').setDescription('URL, status, routes and delivery counts of a source').addStringOption(sourceOption),
      )
      .addSubcommand((sub) => sub.setName('enable').setDescription('Accept and post events again').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('disable').setDescription('Refuse events and post nothing').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('delete').setDescription('Delete a source and its events').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('secret').setDescription('Set, rotate or clear the signing secret').addStringOption(sourceOption))
      .addSubcommand((sub) =>
        sub.setName('test').setDescription("Post a sample event in the source's channels").addStringOption(sourceOption),
      )
      .addSubcommand((sub) => sub.setName('retry').setDescription('Try held and failed deliveries again now').addStringOption(sourceOption))
      .addSubcommand((sub) => sub.setName('log').setDescription('The last 20 events and what became of each').addStringOption(sourceOption))
      .addSubcommand((sub) =>
        sub
          .setName('edit')
          .setDescription('Rename a source or move its first route; the webhook URL stays')
          .addStringOption(sourceOption)
          .addStringOption((o) => o.setName('name').setDescription('A new name').setMinLength(1).setMaxLength(NAME_MAX))
          .addChannelOption(channelOption(false, 'A new channel for its first route (waiting events follow)')),
      )
      .addSubcommand((sub) =>
        sub
          .setName('connect')
          .setDescription("Connect Sentry's API (an integration token) for the triage buttons on cards")
          .addStringOption(sourceOption),
      )
      .addSubcommand((sub) =>
        sub
          .setName('schema')
          .setDescription("The JSON for the Sentry integration's Schema: pick the route in Sentry's alert rules")
          .addStringOption(sourceOption),
      ),
  )
  .addSubcommandGroup((group) =>
    group
      .setName('route')
      .setDescription('Where a source posts: channels, filters, pings')
      .addSubcommand((sub) =>
        routeOptions(
          sub
            .setName('add')
            .setDescription('Send some of a source’s events to another channel')
            .addStringOption(sourceOption)
            .addStringOption((o) =>
              o.setName('name').setDescription('A short name, e.g. alerts').setRequired(true).setMinLength(1).setMaxLength(NAME_MAX),
            )
            .addChannelOption(channelOption(true, 'Where these events are posted')),
        ).addStringOption(layoutOption('How events are shown (default card)')),
      )
      .addSubcommand((sub) => sub.setName('list').setDescription("A source's routes and their filters").addStringOption(sourceOption))
      .addSubcommand((sub) =>
        routeOptions(
          sub
            .setName('edit')
            .setDescription('Change a route: channel, filter, ping')
            .addStringOption(sourceOption)
            .addStringOption(routeOption(true))
            .addStringOption((o) => o.setName('name').setDescription('A new name').setMinLength(1).setMaxLength(NAME_MAX))
            .addChannelOption(channelOption(false, 'A new channel (waiting events follow)')),
        )
          .addBooleanOption((o) => o.setName('remove-ping').setDescription('Stop pinging a role'))
          .addRoleOption((o) =>
            o.setName('triage-role').setDescription('Members with this role may use the triage buttons (besides Manage Server)'),
          )
          .addBooleanOption((o) => o.setName('remove-triage-role').setDescription('Only Manage Server may triage again'))
          .addStringOption(layoutOption('card or feed (existing cards stay where they are)'))
          .addStringOption((o) =>
            o
              .setName('quiet')
              .setDescription('Quiet hours, e.g. 22:00-08:00: held for a digest at their end (off to stop)')
              .setMaxLength(20),
          )
          .addStringOption((o) =>
            o
              .setName('timezone')
              .setDescription('For quiet hours and digests, e.g. Europe/Berlin (default UTC)')
              .setAutocomplete(true)
              .setMaxLength(64),
          )
          .addStringOption((o) =>
            o
              .setName('quiet-pass')
              .setDescription('During quiet hours, still post events at or above this level (default fatal)')
              .addChoices(...LEVEL_CHOICES),
          )
          .addStringOption((o) =>
            o.setName('digest').setDescription('A summary: "daily 09:00" or "weekly mon 09:00" (off to stop)').setMaxLength(30),
          )
          .addBooleanOption((o) => o.setName('digest-empty').setDescription('Post the digest even when nothing happened (default no)')),
      )
      .addSubcommand((sub) =>
        sub.setName('remove').setDescription('Remove a route').addStringOption(sourceOption).addStringOption(routeOption(true)),
      )
      .addSubcommand((sub) =>
        sub
          .setName('digest')
          .setDescription("A route's digest now: what happened since its last one")
          .addStringOption(sourceOption)
          .addStringOption(routeOption(true))
          .addBooleanOption((o) => o.setName('post').setDescription('Post it in the route’s channel (default: only you see it)')),
      )
      .addSubcommand((sub) =>
        sub
          .setName('test')
          .setDescription("Replay the source's last 50 events through its routes (nothing is posted)")
          .addStringOption(sourceOption),
      ),
  )
  .addSubcommandGroup(meGroup)
  .addSubcommand(issueSubcommand)
  .addSubcommandGroup((group) =>
    group
      .setName('template')
      .setDescription('Custom message templates')
      .addSubcommand((sub) =>
        sub
          .setName('set')
          .setDescription('Set the template for an event type, a resource or all events')
          .addStringOption(sourceOption)
          .addStringOption(eventOption)
          .addStringOption(routeOption(false, "A route's own template (default: the source's, for every route)")),
      )
      .addSubcommand((sub) =>
        sub
          .setName('preview')
          .setDescription('Render a template against the last matching event')
          .addStringOption(sourceOption)
          .addStringOption(eventOption)
          .addStringOption(routeOption(false, 'As on this route (default: the source’s templates)')),
      )
      .addSubcommand((sub) => sub.setName('list').setDescription("A source's templates").addStringOption(sourceOption))
      .addSubcommand((sub) =>
        sub
          .setName('clear')
          .setDescription('Remove a template')
          .addStringOption(sourceOption)
          .addStringOption(eventOption)
          .addStringOption(routeOption(false, "A route's own template (default: the source's)")),
      ),
  );

/**
 * Every subcommand's handler and how it is acknowledged, in one table: a form first (`modal`: only
 * a bounded indexed read before it), or deferred (`reply`) before anything else runs.
 */
const HANDLERS = {
  'source create': { acknowledge: 'modal', run: createCommand },
  'source list': { acknowledge: 'reply', run: listCommand },
  'source info': { acknowledge: 'reply', run: infoCommand },
  'source enable': { acknowledge: 'reply', run: enableCommand },
  'source disable': { acknowledge: 'reply', run: disableCommand },
  'source delete': { acknowledge: 'reply', run: deleteCommand },
  'source secret': { acknowledge: 'modal', run: secretCommand },
  'source test': { acknowledge: 'reply', run: testCommand },
  'source retry': { acknowledge: 'reply', run: retryCommand },
  'source log': { acknowledge: 'reply', run: logCommand },
  'source edit': { acknowledge: 'reply', run: editCommand },
  'source connect': { acknowledge: 'modal', run: connectCommand },
  'source schema': { acknowledge: 'reply', run: schemaCommand },
  'route add': { acknowledge: 'reply', run: routeAddCommand },
  'route list': { acknowledge: 'reply', run: routeListCommand },
  'route edit': { acknowledge: 'reply', run: routeEditCommand },
  'route remove': { acknowledge: 'reply', run: routeRemoveCommand },
  'route test': { acknowledge: 'reply', run: routeTestCommand },
  'route digest': { acknowledge: 'reply', run: routeDigestCommand },
  'template set': { acknowledge: 'modal', run: templateSetCommand },
  'template preview': { acknowledge: 'reply', run: templatePreviewCommand },
  'template list': { acknowledge: 'reply', run: templateListCommand },
  'template clear': { acknowledge: 'reply', run: templateClearCommand },
  // A member's own (any member; each checks what it must).
  'me show': { acknowledge: 'reply', anyMember: true, run: meShowCommand },
  'me connect': { acknowledge: 'modal', anyMember: true, run: meConnectCommand },
  'me disconnect': { acknowledge: 'reply', anyMember: true, run: meDisconnectCommand },
  'me notify': { acknowledge: 'reply', anyMember: true, run: meNotifyCommand },
  issue: { acknowledge: 'reply', anyMember: true, run: issueFindCommand },
} satisfies Record<string, SlashHandler>;

export const dispatchCommand = {
  data,
  handlers: HANDLERS,
  // `issue find` suggests only the cards the member may triage.
  memberAutocomplete: (interaction) => interaction.options.getFocused(true).name === 'find',
  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    if (focused.name === 'find') return issueAutocomplete(interaction, ctx);
    let names: string[] = [];
    if (focused.name === 'source') names = await searchSourceNames(ctx.db, guildOf(interaction), String(focused.value));
    if (focused.name === 'route') {
      const source = await findSource(ctx.db, guildOf(interaction), interaction.options.getString('source') ?? '');
      if (source) names = await searchRouteNames(ctx.db, source.id, String(focused.value));
    }
    if (focused.name === 'timezone') names = timeZoneChoices(String(focused.value));
    await interaction.respond(names.map((name) => ({ name, value: name })));
  },
} satisfies Command;
